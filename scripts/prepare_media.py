"""Turn the media fetched by scripts/fetch_media.sh into training and held-out image folders.

    python scripts/prepare_media.py MEDIA_DIR OUT_DIR

Writes OUT_DIR/{photo,anime,screen}/{train,heldout}/*.png, deterministic for the same media:
- photo/train: the real wallpaper photos (Lomiri, MATE nature, the Plasma photos), downscaled by
  at least 2 so that JPEG noise is not a target; photo/heldout: scikit-image's colour photos, which
  never enter training.
- anime: the Ren'Py illustrations and sprites (downscaled by 2) plus public-domain clip art rendered
  from SVG at high resolution (exact line-art ground truth); a seeded tenth is held out.
- screen: GIMP manual screenshots at native resolution (downscaling would blur the text); a seeded
  tenth is held out.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

from PIL import Image

PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "retina.jpg", "ihc.png")
MAX_SIDE = 1600  # bigger wallpapers are reduced further: crops of huge photos are mostly flat
MIN_SIDE = 160  # smaller images give too few distinct training crops
SVG_COUNT = 360
SCREEN_COUNT = 600


def to_rgb(image: Image.Image) -> Image.Image:
    """Composite transparency on white (sprites, clip art) and drop alpha."""
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def reduce(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def save(image: Image.Image, folder: Path, name: str) -> bool:
    if min(image.size) < MIN_SIDE:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / f"{name}.png", optimize=False)
    return True


def split(items: list, seed: int, heldout_fraction: float = 0.1) -> tuple[list, list]:
    items = sorted(items)
    random.Random(seed).shuffle(items)
    cut = max(1, round(len(items) * heldout_fraction))
    return items[cut:], items[:cut]


def prepare_photos(share: Path, pypi: Path, out: Path) -> None:
    sources = sorted((share / "backgrounds").glob("*.jpg")) + sorted((share / "backgrounds/mate/nature").glob("*.jpg"))
    for name in PLASMA_PHOTOS:
        images = sorted((share / "wallpapers" / name / "contents/images").glob("*.jpg"))
        if images:  # every size listed there is the same 2560x1600 file: take one
            sources.append(max(images, key=lambda p: Image.open(p).size))
    for path in sources:
        image = to_rgb(Image.open(path))
        factor = max(2.0, max(image.size) / MAX_SIDE)
        stem = path.parent.parent.parent.name if "contents" in path.parts else path.stem
        save(reduce(image, factor), out / "photo/train", stem)
    for name in SKIMAGE_PHOTOS:
        save(to_rgb(Image.open(pypi / "skimage/data" / name)), out / "photo/heldout", Path(name).stem)


def render_svgs(share: Path, count: int, seed: int) -> list[tuple[str, Image.Image]]:
    import cairosvg

    svgs = sorted((share / "openclipart/svg").rglob("*.svg"))
    random.Random(seed).shuffle(svgs)
    rendered = []
    for path in svgs:
        if len(rendered) >= count:
            break
        try:
            png = cairosvg.svg2png(url=str(path), output_width=768)
            image = to_rgb(Image.open(io.BytesIO(png)))
        except Exception:  # a malformed SVG is simply not used
            continue
        gray = image.convert("L")
        if min(image.size) < MIN_SIDE or gray.getextrema()[0] > 200:  # nearly blank
            continue
        rendered.append((f"clipart-{path.stem}"[:80], image))
    return rendered


def prepare_anime(share: Path, out: Path) -> None:
    renpy = share / "games/renpy/demo/game/images"
    items: list[tuple[str, Image.Image]] = []
    for pattern in ("concert*.png", "eileen*.png", "lucy*.png"):  # the "bg" files are photos
        for path in sorted(renpy.glob(pattern)):
            image = to_rgb(Image.open(path))
            items.append((path.stem.replace(" ", "-"), reduce(image, 2.0) if max(image.size) > 1000 else image))
    items += render_svgs(share, SVG_COUNT, seed=5)
    by_name = dict(items)
    train, heldout = split(list(by_name), seed=7)
    for name in train:
        save(by_name[name], out / "anime/train", name)
    for name in heldout:
        save(by_name[name], out / "anime/heldout", name)


def prepare_screen(share: Path, out: Path) -> None:
    shots = []
    for path in sorted((share / "gimp/2.0/help/en/images").rglob("*.png")):
        with Image.open(path) as image:
            if min(image.size) >= MIN_SIDE:
                shots.append(path)
    random.Random(11).shuffle(shots)
    chosen = [str(p) for p in shots[:SCREEN_COUNT]]
    train, heldout = split(chosen, seed=13)
    for group, paths in (("train", train), ("heldout", heldout)):
        for path in paths:
            name = "-".join(Path(path).relative_to(share / "gimp/2.0/help/en/images").with_suffix("").parts)
            save(to_rgb(Image.open(path)), out / "screen" / group, name)


def main() -> None:
    media, out = Path(sys.argv[1]), Path(sys.argv[2])
    share, pypi = media / "root/usr/share", media / "pypi"
    prepare_photos(share, pypi, out)
    prepare_anime(share, out)
    prepare_screen(share, out)
    for folder in sorted(out.glob("*/*")):
        print(f"{folder.relative_to(out)}: {len(list(folder.glob('*.png')))} images")


if __name__ == "__main__":
    main()
