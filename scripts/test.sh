#!/usr/bin/env bash
# The whole test suite, as README.md's "Tests" shows and CI runs (.ci/run).
# Creates .venv (or reuses it), installs the package with its `test` extra,
# lints, then runs pytest once per Keras backend.
# Any failure, and pytest's exit status 5 ("no tests collected"), fails it.
#
# Environment:
#   KT_BACKENDS="tensorflow jax torch"  backends to run (default: all of them)
#   KT_WORKERS=2                  pytest-xdist worker processes per backend
#                                 (default 2: the JAX pass took 7m34s with 2
#                                 workers against 14m on 1, on 2 CPU cores)
#   KT_KERAS_LATEST=1             also upgrade Keras to the newest release that
#                                 installs and run the suite against it (catches
#                                 a Keras release that breaks _keras_internals)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: this exact version resolves to a CPU wheel on the CI
# machines, while an open range (what the `torch` extra says) pulls a CUDA
# build of several GB. setuptools<81 keeps pkg_resources, which
# tensorflow_hub 0.16.1 imports (torch's install would upgrade setuptools).
.venv/bin/python -m pip install -q torch==2.13.0 "setuptools<81"
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import tensorflow_hub, torch"
if [ "${KT_KERAS_LATEST:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q --upgrade keras
fi
.venv/bin/python -c "import keras; print('keras', keras.__version__)"
.venv/bin/python -m ruff check keras_transfer tests benchmarks
.venv/bin/python -m ruff format --check keras_transfer tests benchmarks
for backend in ${KT_BACKENDS:-tensorflow jax torch}; do
  echo "=== pytest, KERAS_BACKEND=$backend ==="
  start=$SECONDS
  # --dist loadfile: a test module's tests share one worker (and its
  # module-scoped fixtures).
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider --run-slow \
    --durations=15 -n "${KT_WORKERS:-2}" --dist loadfile "$@"
  echo "=== KERAS_BACKEND=$backend took $((SECONDS - start)) s ==="
done
