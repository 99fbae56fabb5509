"""The exceptions the library raises; the service maps each to one HTTP status in one place."""


class RagError(Exception):
    """Base class: the message is safe to show to a user."""


class IngestError(RagError):
    """An article could not be read or parsed."""


class StoreLocked(RagError):
    """Another process is writing to the store."""


class NotReady(RagError):
    """The model or the index is not loaded yet."""


class Overloaded(RagError):
    """Too many questions are waiting for the model."""


class DocumentNotFound(RagError):
    """No document with that id."""


class Cancelled(RagError):
    """The caller withdrew the question (a streaming client disconnected)."""


class Unauthorized(RagError):
    """A protected route was called without the right API key."""


class TooLarge(RagError):
    """A request body is over the size limit."""


class StoreUnavailable(RagError):
    """The store folder is missing, read-only or unreadable: nothing is created or wiped in its place."""


class ModelFailed(RagError):
    """The model raised on a question; the service stays up for the next one."""


class GenerationTimeout(RagError):
    """A question ran past its deadline (RAG_REQUEST_TIMEOUT_S); the model was told to stop."""
