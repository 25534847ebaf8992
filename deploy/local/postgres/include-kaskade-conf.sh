#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook: the server restarts after the init scripts, with these settings.
set -euo pipefail
echo "include '/etc/kaskade/kaskade.conf'" >> "$PGDATA/postgresql.conf"
