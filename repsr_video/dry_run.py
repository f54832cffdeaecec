"""What a run would do, decided exactly as the run decides it, without upscaling or writing anything.

`plan_run(source, target, engine, encode)` opens each input (a video up to its first frame, an image's
header) and returns one FilePlan per file: sizes, the engine's tiling, and for videos the encoder, pixel
format, colour tags and what happens to every other stream (copied, converted, left out). The CLI's
--dry-run prints these. Errors that the run would raise before any work (a bad output path, a frame too
large for memory, an encoder option) are raised here too; a file that cannot be opened gets a plan
whose `error` says why, as the folder run would record it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repsr_video.errors import RepsrError
from repsr_video.media import is_image
from repsr_video.output_plan import EncodeSettings, plan_output
from repsr_video.pipeline import Upscaler, check_frame_fits

# FFmpeg's AVCOL_* numbers, named for people.
_MATRIX = {0: "RGB", 1: "BT.709", 2: "unspecified", 5: "BT.601", 6: "BT.601", 9: "BT.2020"}
_RANGE = {0: "unspecified range", 1: "limited range", 2: "full range"}
_TRANSFER = {1: "BT.709", 2: "unspecified", 6: "BT.601", 13: "sRGB", 14: "BT.2020", 16: "PQ", 18: "HLG"}


@dataclass
class FilePlan:
    input: Path
    output: Path
    kind: str  # "video" or "image"
    action: str  # "upscale", "skip (output exists)", or "fail"
    size: str = ""  # "640x360 -> 1280x720"
    tile: int = 0  # input pixels per tile side; 0 = whole frames
    codec: str = ""
    pix_fmt: str = ""
    colour: str = ""
    streams: list[str] = field(default_factory=list)  # "audio #1 (aac): copy"
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict:
        return {key: str(value) if isinstance(value, Path) else value for key, value in self.__dict__.items()}


def _colour(matrix: int, color_range: int, trc: int) -> str:
    return (f"{_MATRIX.get(matrix, f'matrix {matrix}')}, {_RANGE.get(color_range, f'range {color_range}')}, "
            f"transfer {_TRANSFER.get(trc, trc)}")


def _video_plan(plan: FilePlan, engine: Upscaler, encode: EncodeSettings) -> tuple[int, int]:
    from repsr_video.decoder import VideoDecoder

    with VideoDecoder(plan.input, copy_streams=True) as decoder:
        info = decoder.info
        check_frame_fits(engine, info.height, info.width, 2 if info.high_bit_depth else 1)
        out = plan_output(info, engine.scale, plan.output, encode, decoder.source.copied)
    plan.size = f"{info.width}x{info.height} -> {out.width}x{out.height}"
    plan.codec, plan.pix_fmt = out.codec, out.pix_fmt
    plan.colour = "RGB (no matrix)" if out.rgb_output else _colour(out.color.matrix, out.color.range, out.color.trc)
    plan.streams = [f"{s.kind} #{s.index} ({s.codec}): {s.action}" + (f" to {s.target}" if s.target else "") for s in out.streams]
    plan.notes = list(out.notes)
    return info.height, info.width


def _image_plan(plan: FilePlan, engine: Upscaler) -> tuple[int, int]:
    from repsr_video.images import read_image

    picture = read_image(plan.input)
    height, width = picture.rgb.shape[:2]
    check_frame_fits(engine, height, width, picture.rgb.itemsize)
    plan.size = f"{width}x{height} -> {width * engine.scale}x{height * engine.scale}"
    alpha = "+alpha" if picture.alpha is not None else ""
    plan.pix_fmt = f"{'grey' if picture.grey else 'RGB'}{alpha}, {picture.rgb.itemsize * 8}-bit"
    return height, width


def plan_file(source: Path, target: Path, engine: Upscaler, encode: EncodeSettings, overwrite: bool) -> FilePlan:
    plan = FilePlan(source, target, "image" if is_image(source) else "video", "upscale")
    if target.exists() and not overwrite:
        plan.action = "skip (output exists)"
        return plan
    from repsr_video.engine_base import TiledEngine

    try:
        height, width = _image_plan(plan, engine) if plan.kind == "image" else _video_plan(plan, engine, encode)
    except RepsrError as error:
        plan.action, plan.error = "fail", str(error)
        return plan
    if isinstance(engine, TiledEngine):  # stand-ins for the engine do not tile
        plan.tile = engine.tile_for(height, width)
    return plan


def plan_run(source: Path, target: Path, engine: Upscaler, encode: EncodeSettings, *, overwrite: bool = False) -> list[FilePlan]:
    """One FilePlan per file a run of SOURCE -> TARGET would process (folders: the same checks first)."""
    if source.is_dir():
        from repsr_video.folder import plan_folder

        return [plan_file(path, output, engine, encode, overwrite) for path, output in plan_folder(source, target)]
    return [plan_file(source, target, engine, encode, overwrite)]


__all__ = ["FilePlan", "plan_file", "plan_run"]
