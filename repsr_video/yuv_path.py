"""The YUV path: frames travel as their 4:2:0 planes and become RGB only on the engine's device.

On the RGB path the decoder converts each frame to RGB with swscale and the encoder converts back, both
on the CPU, and RGB crosses PCIe both ways. On the YUV path the decoder hands over the planes as
decoded (half the bytes of RGB at 4:2:0), the engine converts them with repsr_video/yuv.py around the
same net computation (`upscale_yuv`), and the encoder writes the upscaled planes into its frames
unconverted. The matrix and range are the ones the RGB path uses (`VideoInfo.color`: colour.py's
policy, untagged input included), and the output is tagged the same.

`refusal` is the one place that decides whether a run takes it (`yuv_layout` builds on it): "off" never;
"auto" (the default) on a torch engine on a CUDA device, 8-bit input only (at 10 bits swscale sites the
decoded chroma by the frame's chroma location and yuv.py does not: up to 132 of 1023 levels apart on
sharp colour edges); "on" on any device that can run it (tests on CPU). In every mode only where: the
input is 4:2:0 8-bit (yuv420p, yuvj420p) or 10-bit (yuv420p10le) with an even size, the output pixel
format is 4:2:0 planar of the same depth (yuv420p or yuv420p10le) tagged with the input's matrix and
range, no alpha is kept, and frames of this size need no tiling.
Anything else keeps the RGB path. Free of torch: the torch engine does the conversion.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import av
import numpy as np

from repsr_video.alpha import has_alpha
from repsr_video.errors import OutputError
from repsr_video.frames import ColorInfo, VideoInfo, YuvFrameBatch
from repsr_video.yuv_layout import YuvLayout

if TYPE_CHECKING:
    from repsr_video.output_plan import OutputPlan

# Input formats whose planes go over as they are, by bit depth, and the output format they are written as.
INPUT_FORMATS = {8: ("yuv420p", "yuvj420p"), 10: ("yuv420p10le",)}
OUTPUT_FORMATS = {8: "yuv420p", 10: "yuv420p10le"}


@runtime_checkable
class YuvUpscaler(Protocol):
    """An engine that upscales 4:2:0 planes on its device (repsr_video/torch_engine.py's Engine)."""

    scale: int

    @property
    def device(self) -> str: ...

    def tile_for(self, height: int, width: int) -> int: ...

    def upscale_yuv(
        self, y: np.ndarray, u: np.ndarray, v: np.ndarray, layout: YuvLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def refusal(engine: object, info: VideoInfo, plan: OutputPlan) -> str | None:
    """Why this run keeps the RGB path, or None when it takes the YUV path (see the module docstring)."""
    mode = plan.yuv_path
    if mode == "off":
        return "yuv_path is off"
    if not isinstance(engine, YuvUpscaler):
        return f"the engine ({type(engine).__name__}) has no upscale_yuv"
    if mode == "auto" and engine.device != "cuda":
        return f"yuv_path auto runs on a CUDA device only, the engine runs on {engine.device}"
    bits = next((b for b, names in INPUT_FORMATS.items() if info.pix_fmt in names), None)
    if bits is None:
        return f"the input is {info.pix_fmt}, not 4:2:0 YUV of 8 or 10 bits"
    if bits == 10 and mode == "auto":
        # swscale sites decoded 10-bit chroma by the frame's chroma location, yuv.py does not: on sharp colour
        # edges the two paths differed by up to 132 of 1023 levels (tests/test_yuv_path.py), so only `on` takes it
        return "10-bit input takes the YUV path only with yuv_path on (its chroma siting differs from swscale's)"
    if plan.pix_fmt != OUTPUT_FORMATS[bits]:
        return f"the output is {plan.pix_fmt}, not {OUTPUT_FORMATS[bits]}"
    if plan.alpha or has_alpha(info.pix_fmt):
        return "alpha is kept"
    if (plan.color.matrix, plan.color.range) != (info.color.matrix, info.color.range):
        return "the output is tagged with another matrix or range than the input's"
    if info.width % 2 or info.height % 2:
        return f"the input size {info.width}x{info.height} is odd"
    if engine.tile_for(info.height, info.width):
        return f"{info.width}x{info.height} frames are upscaled in tiles"
    return None


def yuv_layout(engine: object, info: VideoInfo, plan: OutputPlan) -> YuvLayout | None:
    """The layout the run's frames travel in as planes, or None for the RGB path."""
    if refusal(engine, info, plan) is not None:
        return None
    return YuvLayout(info.color.matrix, info.color.range, 8 if info.pix_fmt in INPUT_FORMATS[8] else 10)


# --- planes in and out of PyAV frames -------------------------------------------------------------


def _dtype(layout: YuvLayout) -> type[np.unsignedinteger]:
    return np.uint8 if layout.bits == 8 else np.uint16


def _plane_view(plane: av.video.plane.VideoPlane, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """The plane's pixels as an (height, width) view of its buffer (rows are padded to line_size)."""
    rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, -1)
    return rows[:, : plane.width]


def read_planes(frame: av.VideoFrame, layout: YuvLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decoded frame's Y, U, V planes as copies. A frame in another format than the stream's first
    (a rare mid-stream change) is first reformatted to the layout's format, without any matrix."""
    wanted = OUTPUT_FORMATS[layout.bits]
    if frame.format.name not in INPUT_FORMATS[layout.bits]:
        frame = frame.reformat(format=wanted)
    dtype = _dtype(layout)
    y, u, v = (_plane_view(frame.planes[i], dtype).copy() for i in range(3))
    return y, u, v


def planes_batch(
    planes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], pts: list[int], durations: list[int], time_base: Fraction,
    first_index: int, layout: YuvLayout,
) -> YuvFrameBatch:
    """The frames read so far as one batch (the YUV path's FrameBatch)."""
    y, u, v = (np.stack(p) for p in zip(*planes, strict=True))
    return YuvFrameBatch(y, u, v, layout, list(pts), list(durations), time_base, first_index)


def planes_to_frames(batch: YuvFrameBatch, pix_fmt: str, color: ColorInfo) -> Iterator[av.VideoFrame]:
    """The batch's planes written into `pix_fmt` frames unconverted, tagged as swscale tags the RGB path's
    frames, timestamps kept. Only the matching 4:2:0 format and the batch's matrix and range are accepted."""
    layout = batch.layout
    if pix_fmt != OUTPUT_FORMATS[layout.bits] or (color.matrix, color.range) != (layout.matrix, layout.color_range):
        raise OutputError(
            f"{layout.bits}-bit 4:2:0 planes (matrix {layout.matrix}, range {layout.color_range}) cannot be written "
            f"unconverted as {pix_fmt} (matrix {color.matrix}, range {color.range})"
        )
    dtype = _dtype(layout)
    for i in range(len(batch)):
        frame = av.VideoFrame(batch.width, batch.height, pix_fmt)
        for plane, values in zip(frame.planes, (batch.y[i], batch.u[i], batch.v[i]), strict=True):
            _plane_view(plane, dtype)[:] = values
        frame.colorspace, frame.color_range = layout.matrix, layout.color_range
        frame.pts, frame.duration, frame.time_base = batch.pts[i], batch.durations[i], batch.time_base
        yield frame
