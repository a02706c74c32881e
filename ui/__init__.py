"""Web UI: a thin Gradio shell over ``rag.service.RagService``."""
