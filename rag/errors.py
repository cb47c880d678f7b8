"""Errors the user can act on. The CLI prints their message (no stack trace).
Takes a message (and for InputError the file); gives exceptions every stage raises for bad input or state."""


class RagError(Exception):
    """Base for errors with a message meant for the user."""


class InputError(RagError):
    """A file could not be read as a transcript. The message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class IndexStateError(RagError):
    """The index folder is missing, locked, corrupt, or was built with another model or chunker."""

