#!/usr/bin/env bash
# Stops the local Kafka broker; with --all (or --with-postgres) stops PostgreSQL too.
# Data is kept (use deploy/local/kafka.sh reset to wipe Kafka's).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

stop_pg=false
for arg in "$@"; do
  case "$arg" in
    --all | --with-postgres) stop_pg=true ;;
    *) echo "usage: $0 [--all|--with-postgres]" >&2; exit 2 ;;
  esac
done

"$HERE/kafka.sh" stop
if $stop_pg; then
  "$HERE/postgres.sh" stop
else
  echo "[down] PostgreSQL left running (pass --all to stop it)"
fi
