#!/usr/bin/env bash
# GPU check in under 8 minutes: the CUDA tests, then one table from benchmarks/gpu_check.py.
#
#   scripts/fetch_gpu_wheels.sh          # once, on a machine with PyPI: PyAV wheels into .whl/
#   benchmarks/gpu_check.sh              # on the CUDA machine (Python 3.12, torch, triton; no PyAV needed)
#   benchmarks/gpu_check.sh --dry-run    # the same steps on CPU with tiny sizes (CI runs this)
#
# Packages the machine lacks (PyAV) are installed from .whl/ into a temporary folder;
# the checkout itself is installed there too when it is not importable, so nothing outside /tmp changes.
set -uo pipefail
cd "$(dirname "$0")/.."
dry_run=()
[[ "${1:-}" == "--dry-run" ]] && dry_run=(--dry-run)
py=${PYTHON:-python3}
site=${TMPDIR:-/tmp}/repsr-gpu-check-site
start=$SECONDS

if ! "$py" -c "import av" 2>/dev/null; then
    shopt -s nullglob
    wheels=(.whl/*.whl)
    if (( ${#wheels[@]} == 0 )); then
        echo "gpu_check: PyAV is not installed and .whl/ holds no wheels; run scripts/fetch_gpu_wheels.sh first" >&2
        exit 2
    fi
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "${wheels[@]}" || exit 2
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$py" -c "import repsr_video.train" 2>/dev/null; then  # the checkout is not installed here
    "$py" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$site" . || exit 2
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
echo "gpu_check: setup took $((SECONDS - start)) s" >&2

# The CUDA tests (skipped on a machine without a GPU, so a dry run only checks that they collect).
# Only the files that hold some: collecting every test file would import what the GPU machine lacks.
mapfile -t cuda_files < <(grep -l "mark.cuda" tests/test_*.py)
# -P: the installed copy (with repsr_video.train and the presets) rather than the checkout's folder.
timeout 150 "$py" -P -m pytest -q -p no:cacheprovider -m cuda "${cuda_files[@]}"
tests_status=$?
echo "gpu_check: CUDA tests exit status $tests_status after $((SECONDS - start)) s" >&2

# The table: no new row starts after --budget seconds; the hard limit keeps the whole check under 8 minutes.
budget=$(( 420 - (SECONDS - start) - 90 ))
(( budget < 30 )) && budget=30
timeout $(( budget + 90 )) "$py" benchmarks/gpu_check.py "${dry_run[@]}" --budget "$budget"
table_status=$?
echo "gpu_check: done in $((SECONDS - start)) s (tests $tests_status, table $table_status)" >&2
(( tests_status == 0 && table_status == 0 ))
