"""How the integers of a 4:2:0 frame map to RGB: the layout the YUV path carries (free of torch and PyAV).

repsr_video/yuv.py converts with it (torch), repsr_video/yuv_path.py reads and writes frames with it,
and a YuvFrameBatch (repsr_video/frames.py) carries it beside its planes.
"""

from __future__ import annotations

from dataclasses import dataclass

from repsr_video.errors import InputError

# AVColorSpace -> (Kr, Kb): the luma weights of red and blue, as swscale's matrices use them.
_KR_KB = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG
    6: (0.299, 0.114),  # SMPTE 170M (BT.601)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 NCL
    10: (0.2627, 0.0593),  # BT.2020 CL: swscale has only the NCL matrix
}
AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class YuvLayout:
    """How the integers of a 4:2:0 frame map to RGB: AVCOL_SPC matrix, AVCOL_RANGE range, bit depth."""

    matrix: int
    color_range: int
    bits: int = 8

    def __post_init__(self) -> None:
        if self.bits not in (8, 10):
            raise InputError(f"YUV conversion on the GPU handles 8- and 10-bit 4:2:0, not {self.bits}-bit")

    @property
    def full_range(self) -> bool:
        return self.color_range == AVCOL_RANGE_JPEG

    def levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma scale, chroma offset, chroma scale) in this depth's integer levels."""
        step = 1 << (self.bits - 8)
        if self.full_range:
            top = float((1 << self.bits) - 1)
            return 0.0, top, 128.0 * step, top
        return 16.0 * step, 219.0 * step, 128.0 * step, 224.0 * step

    def weights(self) -> tuple[float, float]:
        return _KR_KB.get(self.matrix, _KR_KB[1])  # like colour.sws_matrix: BT.709 where swscale has none
