"""The allowed values of the runtime's user-facing choices: one tuple each, free of heavy imports.

The settings dataclasses type their fields with these Literals and check values against the tuples,
argparse offers the tuples as `choices`, and error messages list them. Nothing here imports torch or
PyAV, so `repsr-video --help` builds its parser without loading the runtime.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

DeviceName = Literal["auto", "cpu", "cuda"]
BackendName = Literal["auto", "tensorrt", "openvino", "compile", "eager"]
PrecisionName = Literal["fp32", "bf16", "fp16"]
EncoderKind = Literal["pyav", "ffmpeg"]  # encode in-process with PyAV, or in an ffmpeg process
# FFmpeg's bwdif before the network: auto = frames flagged interlaced (when the first is), on = every
# frame, off = none (the default; a note names --deinterlace when the input is interlaced)
DeinterlaceMode = Literal["off", "auto", "on"]
# Frames as 4:2:0 planes converted to and from RGB on the engine's device (repsr_video/yuv_path.py):
# auto = on a CUDA torch engine where the formats allow, on = wherever they allow (any device), off = never
YuvPathMode = Literal["auto", "on", "off"]

DEVICES: tuple[DeviceName, ...] = get_args(DeviceName)
BACKENDS: tuple[BackendName, ...] = get_args(BackendName)
PRECISIONS: tuple[PrecisionName, ...] = get_args(PrecisionName)
ENCODERS: tuple[EncoderKind, ...] = get_args(EncoderKind)
DEINTERLACE_MODES: tuple[DeinterlaceMode, ...] = get_args(DeinterlaceMode)
YUV_PATH_MODES: tuple[YuvPathMode, ...] = get_args(YuvPathMode)

SCALES: tuple[int, ...] = (2, 3, 4)  # upscaling factors the network supports
# What `--scale` offers: the scales with a shipped default preset (no x3 preset is trained yet; a x3
# preset of your own still runs with --preset).
DEFAULT_PRESET_SCALES: tuple[int, ...] = (2, 4)
_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def is_device_name(value: str) -> bool:
    """One of DEVICES, or "cuda:N" for the N-th GPU torch sees."""
    return value in DEVICES or _CUDA_INDEX.fullmatch(value) is not None


def cuda_index(value: str) -> int | None:
    """N of "cuda:N"; None for the other device names."""
    match = _CUDA_INDEX.fullmatch(value)
    return int(match.group(1)) if match else None
DEFAULT_SCALE = 2  # the scale whose default preset runs when neither a preset nor a scale is given
