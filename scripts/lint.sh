#!/usr/bin/env bash
# The checks of .pre-commit-config.yaml, without pre-commit: exits non-zero
# on the first finding. Install the tools with: pip install -e ".[lint]"
set -euo pipefail
cd "$(dirname "$0")/.."
PY=(mmbmix tools benchmarks tests configs setup.py)
flake8 "${PY[@]}"
isort --check-only --diff "${PY[@]}"
yapf --diff --recursive "${PY[@]}"
codespell mmbmix tools benchmarks tests configs docs README.md setup.py
# trailing whitespace in the tracked text files
if git ls-files -z -- '*.py' '*.md' '*.yml' '*.yaml' '*.sh' '*.cfg' |
        xargs -0 grep -nE '[[:space:]]+$' ; then
    echo "lint: trailing whitespace (above)"; exit 1
fi
echo "lint: flake8, isort, yapf, codespell: no finding"
