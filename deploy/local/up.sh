#!/usr/bin/env bash
# Brings up local PostgreSQL (roles/schemas bootstrapped) and a single-node Kafka broker.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$HERE/postgres.sh" install
"$HERE/postgres.sh" start
"$HERE/postgres.sh" setup

"$HERE/kafka.sh" fetch
"$HERE/kafka.sh" format
"$HERE/kafka.sh" start
"$HERE/kafka.sh" wait

echo "[up] local infrastructure is up; for the connection settings run: . deploy/local/env.sh"
