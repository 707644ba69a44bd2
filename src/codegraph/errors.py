"""The base of errors whose message is fit for a user: the CLI prints it on one line."""


class CodeGraphError(Exception):
    pass


class EmbeddingError(CodeGraphError, RuntimeError):
    """The embedding model is missing, corrupt, mismatched or cannot run."""
