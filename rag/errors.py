"""Errors a user can act on. Each carries a one-line message; the CLI and API show it instead of a trace.

Every error a user can cause or fix is a ``RagError``; anything else is a bug, and shows its trace.
"""


class RagError(Exception):
    """Base class: the message is shown to the user as it is."""


class InvalidQuestion(RagError):
    """Empty or too long question."""


class IndexMissing(RagError):
    """No index, or an empty one: the user must ingest documents first."""


class IndexMismatch(IndexMissing):
    """An index built with another embedding model: its vectors cannot be compared with this one's."""


class ModelLoadError(RagError):
    """A model could not be found, verified or loaded."""


class GeneratorError(RagError):
    """The generator (LLM or remote endpoint) failed while answering."""


class Busy(RagError):
    """Too many questions are waiting for the generator; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(RagError):
    """No such document, evaluation, generator or model."""


class MissingFile(NotFound, FileNotFoundError):
    """A file or folder the user named does not exist (also a ``FileNotFoundError``, as callers expect)."""


class BadRequest(RagError):
    """A request that cannot be done as asked, e.g. an option value that does not exist."""


class InvalidUpload(RagError):
    """A file name with a folder in it, or otherwise unusable as a plain file name."""


class UnsupportedFile(RagError):
    """A file type the loaders do not read."""


class FileTooLarge(RagError):
    """A file over RAG_MAX_FILE_MB."""


class UnreadableDocument(RagError):
    """Binary, empty or undecodable content: nothing to index."""


class Conflict(RagError):
    """The request clashes with work in progress (e.g. an evaluation is already running)."""


class InvalidEvalSet(InvalidQuestion, ValueError):
    """An eval set that cannot be run as asked: unreadable, malformed, or questions the server would
    refuse (also a ``ValueError``, as callers of the loader expect)."""


class EvalCancelled(RagError):
    """An evaluation stopped on request (raised inside the run, between two questions)."""


class StoreUnavailable(RagError):
    """The Chroma server cannot be reached or does not answer in time: try again when it is back."""
