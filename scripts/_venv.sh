# Sourced by scripts/test.sh and scripts/quickstart.sh: make sure ./.venv is a
# virtual environment we can use, or stop with one clear line saying what to do.
# PYTHON picks the interpreter that creates it (default python3).
ensure_venv() {
  local py=${PYTHON:-python3}
  if [ -L .venv ] && [ ! -e .venv ]; then
    echo "error: .venv is a symlink to a missing directory ($(readlink .venv))." \
      "Remove it (rm .venv) and run this again." >&2
    exit 2
  fi
  if [ -e .venv ] && [ ! -x .venv/bin/python ]; then
    echo "error: .venv exists but is not a virtual environment (no .venv/bin/python)." \
      "Move it away or remove it (rm -rf .venv) and run this again." >&2
    exit 2
  fi
  if [ ! -e .venv ]; then
    "$py" -m venv .venv || {
      echo "error: '$py -m venv .venv' failed; install the venv module" \
        "(Debian: apt-get install python3-venv) or set PYTHON=/path/to/python3." >&2
      exit 2
    }
  fi
}
