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
        with av.open(str(clip)) as container:
            frames = [frame.to_image() for frame in container.decode(video=0)]
        step = max(1, len(frames) // args.count)
        for index in range(0, len(frames), step)[: args.count]:
            frames[index].save(args.out / f"{clip.stem}-{index:03d}.png")
        print(f"{clip}: {len(frames)} frames, wrote {min(args.count, len(range(0, len(frames), step)))}")


if __name__ == "__main__":
    main()
