"""The job options as people type them: times the FFmpeg way, and device lists like cuda:0,1."""

from __future__ import annotations

import re
from fractions import Fraction

from repsr_video.choices import DEVICES
from repsr_video.errors import EngineError, InputError

# 30 s: a resume redoes at most one unfinished segment per worker (15 s of video on average); a clip
# under 45 s is one segment; each cut costs one encoder start and one IDR frame (see plan.py).
DEFAULT_SEGMENT_SECONDS = 30.0

_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?")
_UNITS = {None: Fraction(1), "s": Fraction(1), "ms": Fraction(1, 1000), "us": Fraction(1, 1_000_000)}
_CUDA_LIST = re.compile(r"cuda:(\d+(?:,\d+)*)")


def parse_time(text: str) -> Fraction:
    """FFmpeg's duration syntax: [HH:]MM:SS[.frac] or seconds with an optional s/ms/us unit."""
    text = text.strip()
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return Fraction(int(hours or 0) * 3600 + int(minutes) * 60) + Fraction(seconds)
    plain = _SECONDS.fullmatch(text)
    if plain:
        return Fraction(plain.group(1)) * _UNITS[plain.group(2)]
    raise InputError(f"time {text!r} is not [HH:]MM:SS[.frac] or seconds (e.g. 90, 1:30, 0:01:30.5, 500ms)")


def parse_devices(text: str) -> tuple[str, tuple[str, ...]]:
    """(the engine's device, the worker devices): "auto"/"cpu"/"cuda" -> (that, ()); "cuda:1" -> ("cuda:1",
    ("cuda:1",)); "cuda:0,1" -> ("cuda:0", ("cuda:0", "cuda:1")), one worker per listed GPU."""
    if text in DEVICES:
        return text, ()
    listed = _CUDA_LIST.fullmatch(text)
    if not listed:
        raise EngineError(f"device {text!r} is not one of {', '.join(DEVICES)} or a GPU list like cuda:0 or cuda:0,1")
    numbers = listed.group(1).split(",")
    if len(set(numbers)) != len(numbers):
        raise EngineError(f"device {text!r} names a GPU twice")
    devices = tuple(f"cuda:{n}" for n in numbers)
    return devices[0], devices
