"""Write evenly spaced frames of video clips as PNG, to score presets on real footage with `repsr-video eval`.

    python scripts/clip_frames.py OUT_DIR CLIP [CLIP ...] [--count 6]

The frames are the decoded (already compressed) pictures, used as the high-resolution reference:
eval downscales them, so the preset and bicubic get the same input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--count", type=int, default=6)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in args.clips:
        with av.open(str(clip)) as container:  # first pass counts, so a long clip is never held in memory
            total = sum(1 for _ in container.decode(video=0))
        step = max(1, total // args.count)
        wanted = set(range(0, total, step)[: args.count])
        with av.open(str(clip)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    frame.to_image().save(args.out / f"{clip.stem}-{index:03d}.png")
        print(f"{clip}: {total} frames, wrote {len(wanted)}")


if __name__ == "__main__":
    main()
