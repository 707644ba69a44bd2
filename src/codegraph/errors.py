"""The base of errors whose message is fit for a user (the CLI prints it on one line), and
the errors of optional parts, kept here so that catching them never imports those parts."""


class CodeGraphError(Exception):
    pass


class EmbeddingError(CodeGraphError, RuntimeError):
    """The embedding model is missing, corrupt, mismatched or cannot run."""


class VectorIndexError(CodeGraphError, RuntimeError):
    """The vector index is unreadable, corrupt or cannot be written."""


class RepositoryNameError(CodeGraphError, ValueError):
    """A repository name that is not allowed."""


class RepositoryConflict(RepositoryNameError):
    """The name is taken by another directory, or the directory has another name."""
