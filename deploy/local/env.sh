# shellcheck shell=bash
# Connection settings for the local Kafka and PostgreSQL started by deploy/local/up.sh.
# Source it (`. deploy/local/env.sh`); variables already set in the environment win.
# No `set -euo pipefail` here: it would leak into the shell that sources this file.
# sslmode=disable: on loopback, TLS costs every query a round of encryption for nothing.

: "${KASKADE_KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:${KASKADE_KAFKA_PORT:-9092}}"
: "${KASKADE_SHARE_INGEST_DATABASE_URL:=postgresql://share_ingest:share_ingest@127.0.0.1:5432/kaskade?sslmode=disable}"
: "${KASKADE_ATTRIBUTION_DATABASE_URL:=postgresql://attribution:attribution@127.0.0.1:5432/kaskade?sslmode=disable}"
: "${KASKADE_REWARD_DATABASE_URL:=postgresql://reward:reward@127.0.0.1:5432/kaskade?sslmode=disable}"
: "${KASKADE_NOTIFICATION_DATABASE_URL:=postgresql://notification:notification@127.0.0.1:5432/kaskade?sslmode=disable}"
: "${KASKADE_ADMIN_DATABASE_URL:=postgresql://kaskade_admin:kaskade_admin@127.0.0.1:5432/kaskade?sslmode=disable}"
: "${KASKADE_SHARE_INGEST_OPERATOR_TOKEN:=dev-operator-token}"  # the operator API; local development only
: "${KASKADE_BENCH_DATABASE_URL:=postgresql://kaskade_bench:kaskade_bench@127.0.0.1:5432/kaskade?sslmode=disable}"

export KASKADE_KAFKA_BOOTSTRAP_SERVERS \
  KASKADE_SHARE_INGEST_DATABASE_URL \
  KASKADE_ATTRIBUTION_DATABASE_URL \
  KASKADE_REWARD_DATABASE_URL \
  KASKADE_NOTIFICATION_DATABASE_URL \
  KASKADE_ADMIN_DATABASE_URL \
  KASKADE_BENCH_DATABASE_URL \
  KASKADE_SHARE_INGEST_OPERATOR_TOKEN
