"""Errors a user can act on. Each carries a one-line message; the CLI and API show it instead of a trace."""


class RagError(Exception):
    """Base class: the message is shown to the user as it is."""


class InvalidQuestion(RagError):
    """Empty or too long question."""


class IndexMissing(RagError):
    """No index, or an empty one: the user must ingest documents first."""


class ModelLoadError(RagError):
    """A model could not be found, verified or loaded."""


class GeneratorError(RagError):
    """The generator (LLM or remote endpoint) failed while answering."""
