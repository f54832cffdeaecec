"""What each video encoder accepts for --crf and --encoder-preset, and how to keep its banner quiet.

FFmpeg's encoder wrappers clamp an out-of-range CRF or ignore an unknown preset without a word
(libx264 took --crf 60 as 51), so these are checked here, by encoder, with a message listing what
is allowed. Encoders not listed are not checked (their own open fails loudly, or the option is noted
as ignored by output_plan).
"""

from __future__ import annotations

from repsr_video.errors import OutputError

_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_NVENC_PRESETS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "default", "slow", "medium", "fast", "hp", "hq", "bd", "ll",
                  "llhq", "llhp", "lossless", "losslesshp")
_VPX_DEADLINES = ("good", "best", "realtime")

# Inclusive CRF (NVENC: constant-quality -cq) range of each encoder.
CRF_RANGES: dict[str, tuple[int, int]] = {
    "libx264": (0, 51), "libx265": (0, 51), "libsvtav1": (1, 63), "libvpx-vp9": (0, 63), "libvpx": (4, 63),
    "h264_nvenc": (0, 51), "hevc_nvenc": (0, 51), "av1_nvenc": (0, 51),
}
# Speed presets: names, or for libvpx a deadline name or a cpu-used number.
ENCODER_PRESETS: dict[str, tuple[str, ...]] = {
    "libx264": _X26X_PRESETS,
    "libx265": _X26X_PRESETS,
    "libsvtav1": tuple(str(n) for n in range(0, 14)),
    "libvpx-vp9": _VPX_DEADLINES + tuple(str(n) for n in range(-8, 9)),
    "libvpx": _VPX_DEADLINES + tuple(str(n) for n in range(-16, 17)),
    "h264_nvenc": _NVENC_PRESETS, "hevc_nvenc": _NVENC_PRESETS, "av1_nvenc": _NVENC_PRESETS,
}
# Encoder options that silence an encoder's own banner and info lines (errors still print).
# SVT-AV1 logs through its own logger, set by the SVT_LOG environment variable (the CLI sets it).
QUIET_OPTIONS: dict[str, dict[str, str]] = {"libx265": {"x265-params": "log-level=error"}}


def check_crf(codec: str, crf: int) -> None:
    low, high = CRF_RANGES.get(codec, (crf, crf))
    if not low <= crf <= high:
        raise OutputError(f"--crf {crf} is out of range for {codec}: {low}..{high}")


_PRESET_WORDS = {
    "libsvtav1": "0 (slowest) to 13 (fastest)",
    "libvpx-vp9": "good, best, realtime, or a cpu-used number -8 to 8",
    "libvpx": "good, best, realtime, or a cpu-used number -16 to 16",
}


def check_preset(codec: str, preset: str) -> None:
    allowed = ENCODER_PRESETS.get(codec)
    if allowed is not None and preset not in allowed:
        listed = _PRESET_WORDS.get(codec, ", ".join(allowed))
        raise OutputError(f"--encoder-preset {preset!r} is not one of {codec}'s presets: {listed}")


__all__ = ["CRF_RANGES", "ENCODER_PRESETS", "QUIET_OPTIONS", "check_crf", "check_preset"]
