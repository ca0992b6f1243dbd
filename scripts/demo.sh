#!/usr/bin/env bash
# Install napari-unet into .venv and segment the bundled sample images with the bundled models,
# writing masks and overlay PNGs to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
run() { .venv/bin/napari-unet segment "$@" --out results --overlay --save-prob --overwrite; }
run sample_data/fundus_retina.jpg --model drive
run sample_data/em_isbi2012_test00_crop.png --model em
echo "masks, probabilities and overlays: $(pwd)/results/"
ls results
