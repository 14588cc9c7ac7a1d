#!/bin/sh
# Install checkov (PyPI, pinned with all its dependencies in deploy/tools/requirements-checkov.txt) into
# a venv of its own under .cache/tools, for the offline manifest checks (tests/deploy/test_checkov.py).
# Idempotent: nothing happens when the venv matches the requirements file. Prints checkov's path.
#
# Why a separate venv: checkov 3.3.30 requires packaging<24, pytest 9.2 requires packaging>=24.
# Network: PyPI only, at install time. checkov itself runs offline (--skip-download, see the test).
# Overrides: PYTHON (interpreter for the venv; default python3).
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
REQ="$ROOT/deploy/tools/requirements-checkov.txt"
VENV="$ROOT/.cache/tools/checkov-venv"
BIN="$ROOT/.cache/tools/bin"
STAMP="$VENV/.installed-from"

log() { echo "install-checkov: $*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/checkov" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$VENV/bin/checkov"
  exit 0
fi
rm -rf "$VENV"
"${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$REQ"
"$VENV/bin/checkov" --version >/dev/null
echo "$want" >"$STAMP"
mkdir -p "$BIN"
ln -sf "$VENV/bin/checkov" "$BIN/checkov"
log "checkov $("$VENV/bin/checkov" --version) in $VENV"
echo "$VENV/bin/checkov"
