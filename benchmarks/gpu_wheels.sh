#!/usr/bin/env bash
# Download the pure-Python wheels that benchmarks/gpu_check.sh installs on a
# GPU machine without a package index (Python 3.12 there), into .whl/ (keep
# it out of git: echo /.whl/ >> .git/info/exclude). Run here, where pip
# reaches a registry. Versions are the ones the check ran with on 2026-11-26.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    mmpretrain==1.2.0 mmengine==0.10.7 mmcv-lite==2.2.0 addict==2.4.0 \
    yapf==0.43.0 termcolor==3.3.0 mat4py==0.6.0 modelindex==0.0.2 \
    model-index==0.1.11 ordered-set==4.1.0 platformdirs==4.14.8 \
    importlib_metadata==10.2.0 lazy-importer==0.1.0
ls .whl
