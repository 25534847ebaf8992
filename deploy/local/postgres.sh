#!/usr/bin/env bash
# The machine's Debian PostgreSQL cluster for local development.
# Usage: deploy/local/postgres.sh {install|start|setup|reset|bench-db|stop|status}
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SQL="$ROOT/deploy/local/sql/bootstrap.sql"
CONF="$ROOT/deploy/local/postgres/kaskade.conf"
CLUSTER="${KASKADE_PG_CLUSTER:-main}"
PORT=5432
WAIT_SECONDS="${KASKADE_PG_WAIT_SECONDS:-30}"
BENCH_DB=kaskade_benchmark

log() { echo "[postgres] $*"; }
die() { echo "[postgres] ERROR: $*" >&2; exit 1; }

as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }
as_postgres() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

installed() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

# Newest installed server version, unless KASKADE_PG_VERSION says otherwise.
pg_version() {
  [[ -n "${KASKADE_PG_VERSION:-}" ]] && { echo "$KASKADE_PG_VERSION"; return; }
  installed || die "PostgreSQL is not installed (run: $0 install)"
  compgen -G '/usr/lib/postgresql/*/bin/postgres' | cut -d/ -f5 | sort -V | tail -n 1
}

# Cluster status column from pg_lsclusters: online/down/... or empty when the cluster does not exist.
cluster_status() { pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }'; }

cmd_install() {
  if installed; then
    log "already installed: $(compgen -G '/usr/lib/postgresql/*/bin/postgres' | tr '\n' ' ')"
    return
  fi
  log "installing postgresql from Debian ..."
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
}

cmd_start() {
  local ver status
  ver="$(pg_version)"
  status="$(cluster_status "$ver")"
  if [[ -z "$status" ]]; then
    log "creating cluster $ver/$CLUSTER on port $PORT"
    as_root pg_createcluster --port "$PORT" "$ver" "$CLUSTER"
    status="$(cluster_status "$ver")"
  fi
  # The socket directory lives on a tmpfs that may be gone after a reboot of a container.
  as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  local changed=0
  install_conf "$ver" && changed=1
  reserve_huge_pages "$ver" && [[ "$status" == online* ]] && ! on_huge_pages "$ver" && changed=1
  if [[ "$status" == online* ]]; then
    if ((changed)); then
      # shared_buffers, huge pages and preloaded libraries only change with a restart.
      log "restarting cluster $ver/$CLUSTER for the settings in $CONF and the huge pages"
      as_root pg_ctlcluster "$ver" "$CLUSTER" restart
    else
      log "cluster $ver/$CLUSTER already running"
    fi
  else
    log "starting cluster $ver/$CLUSTER"
    as_root pg_ctlcluster "$ver" "$CLUSTER" start
  fi
  local deadline=$((SECONDS + WAIT_SECONDS))
  until pg_isready -q -h 127.0.0.1 -p "$PORT"; do
    ((SECONDS < deadline)) || die "not accepting connections on 127.0.0.1:$PORT after ${WAIT_SECONDS}s (see /var/log/postgresql/)"
    sleep 0.5
  done
  log "accepting connections on 127.0.0.1:$PORT"
}

# Kaskade's server settings as conf.d/kaskade.conf of the cluster; succeeds only when the file changed.
install_conf() {
  local target="/etc/postgresql/$1/$CLUSTER/conf.d/kaskade.conf"
  if cmp -s "$CONF" "$target"; then return 1; fi
  as_root install -D -o postgres -g postgres -m 0644 "$CONF" "$target"
  log "installed $target"
}

# Shared buffers on huge pages: a TLB entry then maps 2 MB instead of 4 kB, and on a virtual
# machine every TLB miss walks two page tables. With 6 GB of buffers, Postgres spent about a
# quarter more CPU per attributed conversion on 4 kB pages (alternating runs: 134-199 µs against
# 97-136 µs). Reserving them is a kernel setting; where it is refused, or memory is too fragmented
# to give them, Postgres runs on normal pages (huge_pages = try) and this only says so.
data_dir() { pg_lsclusters -h | awk -v v="$1" -v c="$CLUSTER" '$1 == v && $2 == c { print $6 }'; }

huge_pages_needed() {
  if [[ "$(cluster_status "$1")" == online* ]]; then
    as_postgres psql -X -At -d postgres -c 'SHOW shared_memory_size_in_huge_pages'
  else
    as_postgres "/usr/lib/postgresql/$1/bin/postgres" -D "$(data_dir "$1")" \
      -c config_file="/etc/postgresql/$1/$CLUSTER/postgresql.conf" -C shared_memory_size_in_huge_pages
  fi
}

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# Succeeds only when it reserved pages that were missing.
reserve_huge_pages() {
  local need total
  need="$(huge_pages_needed "$1" 2>/dev/null)" || return 1
  [[ "$need" =~ ^[0-9]+$ ]] && ((need > 0)) || return 1
  total="$(meminfo HugePages_Total)"
  ((total >= need)) && return 1
  if ! as_root sysctl -q -w vm.nr_hugepages="$need" >/dev/null 2>&1; then
    log "could not reserve $need huge pages (sysctl vm.nr_hugepages refused): shared buffers on 4 kB pages"
    return 1
  fi
  if (($(meminfo HugePages_Total) < need)); then
    log "only $(meminfo HugePages_Total) of $need huge pages free: shared buffers on 4 kB pages"
    as_root sysctl -q -w vm.nr_hugepages="$total" >/dev/null 2>&1 || true
    return 1
  fi
  log "reserved $need huge pages for the shared buffers"
}

# Whether the running cluster's shared memory is on huge pages (PostgreSQL 15 cannot say itself).
on_huge_pages() {
  local pid
  pid="$(as_root head -n 1 "$(data_dir "$1")/postmaster.pid" 2>/dev/null)" || return 1
  as_root grep -q anon_hugepage "/proc/$pid/maps" 2>/dev/null
}

# Password auth over TCP from 127.0.0.1 to database $1 must be allowed (Debian's default
# pg_hba.conf does it for all databases).
ensure_tcp_password_auth() {
  local ver hba
  ver="$(pg_version)"
  hba="$(as_postgres psql -X -At -d postgres -c 'SHOW hba_file')"
  if ! as_postgres psql -X -At -d postgres -c \
    "SELECT 1 FROM pg_hba_file_rules WHERE type = 'host' AND address = '127.0.0.1'
       AND auth_method IN ('scram-sha-256', 'md5') AND ('all' = ANY(database) OR '$1' = ANY(database))" |
    grep -q 1; then
    log "adding a scram-sha-256 rule for 127.0.0.1 and database $1 to $hba"
    echo "host    $1    all    127.0.0.1/32    scram-sha-256" | as_root tee -a "$hba" >/dev/null
    as_root pg_ctlcluster "$ver" "$CLUSTER" reload
  fi
}

# Sets up database $1 (default kaskade): roles, one schema per service, grants.
cmd_setup() {
  local db="${1:-kaskade}" role
  pg_isready -q -h 127.0.0.1 -p "$PORT" || die "not running (run: $0 start)"
  log "applying $SQL to database $db"
  # Fed on stdin so the postgres user needs no read access to the repository.
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -v db="$db" -d postgres -f - <"$SQL"
  ensure_tcp_password_auth "$db"
  for role in share_ingest attribution reward notification kaskade_admin; do
    [[ "$(PGPASSWORD="$role" psql -X -At -h 127.0.0.1 -p "$PORT" -U "$role" -d "$db" -c 'SELECT current_user')" == "$role" ]] ||
      die "role $role cannot log in over TCP with its password"
  done
  log "database $db ready; all roles log in over 127.0.0.1:$PORT with passwords"
}

# Drops database $1 (every service's schema and data; the roles stay) and sets it up again. The
# services and the test suite migrate their schemas on their next start.
recreate() {
  pg_isready -q -h 127.0.0.1 -p "$PORT" || die "not running (run: $0 start)"
  log "dropping database $1"
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
  cmd_setup "$1"
}

cmd_reset() { recreate kaskade; }

# The benchmark's own database, new for every run: its figures do not depend on what earlier runs
# left, and nothing it writes stays after the next run.
cmd_bench-db() { recreate "$BENCH_DB"; }

cmd_stop() {
  local ver
  ver="$(pg_version)"
  if [[ "$(cluster_status "$ver")" == online* ]]; then
    log "stopping cluster $ver/$CLUSTER"
    as_root pg_ctlcluster "$ver" "$CLUSTER" stop
  else
    log "cluster $ver/$CLUSTER not running"
  fi
}

cmd_status() {
  pg_lsclusters
  if pg_isready -h 127.0.0.1 -p "$PORT"; then return 0; else return 3; fi
}

case "${1:-}" in
  install | start | setup | reset | bench-db | stop | status) "cmd_$1" ;;
  *) echo "usage: $0 {install|start|setup|reset|bench-db|stop|status}" >&2; exit 2 ;;
esac
