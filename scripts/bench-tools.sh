#!/usr/bin/env bash
# Installs what `make bench` needs beyond the venv: wrk, the redirect phase's closed-loop HTTP load
# generator (Debian package `wrk`). A fresh machine has none, and the phase failed without it.
set -euo pipefail

log() { echo "[bench-tools] $*"; }
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

if command -v wrk >/dev/null; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "[bench-tools] ERROR: wrk is missing and there is no apt-get to install it" >&2; exit 1; }
log "installing wrk from Debian ..."
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
log "installed $(command -v wrk)"
