#!/usr/bin/env bash
# README's Quick start: a venv in ./.venv, the package with its demo extra,
# then `keras-transfer demo --quick`. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[demo]"
exec .venv/bin/keras-transfer demo --quick "$@"
