"""One base exception for the package; the CLI catches it and prints one line."""

import sys


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


class DependencyError(RepsrError):
    """An optional package that a feature needs is missing or does not import."""


class PresetWarning(UserWarning):
    """A preset file was skipped because it cannot be read; the tool goes on with the others."""


def describe_error(error: BaseException) -> str:
    """The cause part of a one-line message ("<file>: <what failed> (<cause>)").

    FFmpeg's and the OS's errors give their own text (strerror), without the errno and file name that
    str() adds: the message names the file already. Other errors give str(), or their type's name.
    """
    strerror = getattr(error, "strerror", None) if isinstance(error, OSError) or _is_ffmpeg_error(error) else None
    return strerror or str(error) or type(error).__name__


def _is_ffmpeg_error(error: BaseException) -> bool:
    # Looked up, not imported: an error from PyAV means PyAV is loaded, and this module stays light.
    ffmpeg_error = getattr(sys.modules.get("av.error"), "FFmpegError", None)
    return ffmpeg_error is not None and isinstance(error, ffmpeg_error)
