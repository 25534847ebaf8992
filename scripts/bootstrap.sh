#!/usr/bin/env bash
# Creates .local/venv (Python >= 3.11) and installs the project editable with its test extras.
# The pip step is skipped while pyproject.toml is unchanged since the last successful install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/venv"
STAMP="$VENV/.kaskade-pyproject.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "[bootstrap] $*"; }
die() { echo "[bootstrap] ERROR: $*" >&2; exit 1; }

if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "Python >= 3.11 required, $PYTHON is $("$PYTHON" -V 2>&1)"
  log "creating $VENV with $("$PYTHON" -V 2>&1)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$VENV has $("$VENV/bin/python" -V 2>&1); Python >= 3.11 required (delete it and retry)"

hash="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$hash" ]]; then
  log "dependencies up to date (pyproject.toml unchanged)"
else
  log "installing kaskade[test] (editable) into $VENV ..."
  (cd "$ROOT" && "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[test]')
  echo "$hash" >"$STAMP"
  log "installed"
fi
log "activate with: . .local/venv/bin/activate"
