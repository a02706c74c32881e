"""HTTP API: a thin FastAPI shell over ``rag.service.RagService``."""
