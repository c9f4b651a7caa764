#!/usr/bin/env bash
# The whole test suite, as README.md's "Tests" shows and CI runs (.ci/run).
# Creates .venv (or reuses it), installs the package with its `test` extra,
# lints, then runs pytest once per Keras backend: TensorFlow, then JAX.
# Any failure, and pytest's exit status 5 ("no tests collected"), fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -m ruff check keras_transfer tests benchmarks
for backend in tensorflow jax; do
  echo "=== pytest, KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
done
