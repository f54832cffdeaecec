"""One base exception for the package; the CLI catches it and prints one line."""


class RepsrError(Exception):
    """Base class: every error a user can cause or fix."""


class InputError(RepsrError):
    """The input file or folder is missing, unreadable, corrupt or unsupported."""


class OutputError(RepsrError):
    """The output path is invalid, unwritable, or would overwrite an input."""


class PresetError(RepsrError):
    """A preset is unknown, malformed, or its weights do not match it."""


class EngineError(RepsrError):
    """The requested device or backend cannot run here."""
