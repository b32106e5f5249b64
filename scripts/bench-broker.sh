#!/usr/bin/env bash
# Broker load figures for docs/broker.md: handshakes/s and server CPU per handshake.
#
#   scripts/bench-broker.sh embedded NEW_BIN [OLD_BIN]   # single replica, embedded store (A/B)
#   scripts/bench-broker.sh postgres NEW_BIN             # 1 and 3 replicas on one PostgreSQL
#
# The load tool is always NEW_BIN's `bench` (64 clients, sample TEE), so only the server
# changes between A and B. CPU comes from /proc/<pid>/stat (utime + stime) before and after
# the load; PostgreSQL's CPU is summed over every process of the throwaway cluster;
# statements per handshake come from pg_stat_statements. Run on an idle machine.
set -euo pipefail

MODE=${1:?embedded|postgres}
NEW=${2:?NEW_BIN}
OLD=${3:-}
ROUNDS=${ROUNDS:-3}
N=${HANDSHAKES:-10000}
C=${CONCURRENCY:-64}
TMP=$(mktemp -d /tmp/remits-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${PGDATA_DIR:-}" ]; then pg_as "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
TICK=$(getconf CLK_TCK)

cpu_ticks() { # utime+stime of a pid
  awk '{print $14 + $15}' "/proc/$1/stat"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }
allow_all() { printf 'package policy\nimport rego.v1\ndefault allow := true\n' > "$TMP/allow.rego"; }
run_load() { # URL -> prints the bench line
  "$NEW" bench --broker "$1" --tee sample --concurrency "$C" --handshakes "$N" --path default/key/1 2>/dev/null | tail -1
}
per_s() { sed -E 's/.*handshakes_per_s=([0-9.]+).*/\1/' <<<"$1"; }
p99() { sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$1"; }

embedded_once() { # BIN -> "hs/s ms_cpu_per_hs p99"
  local bin=$1 port dir url pid before after line
  port=$(free_port); dir="$TMP/dev-$port"; url="http://127.0.0.1:$port"
  "$bin" serve --dev --listen "127.0.0.1:$port" --data-dir "$dir" >/dev/null 2>&1 &
  pid=$!; PIDS+=("$pid"); wait_up "$url"
  head -c 32 /dev/urandom > "$TMP/s"
  "$bin" admin --broker "$url" --key "$dir/admin-key.pem" put-resource default/key/1 --file "$TMP/s" >/dev/null
  before=$(cpu_ticks "$pid"); line=$(run_load "$url"); after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v hs="$(per_s "$line")" -v d=$((after - before)) -v t="$TICK" -v n="$N" -v p="$(p99 "$line")" \
    'BEGIN {printf "%.0f %.3f %.1f\n", hs, d / t * 1000 / n, p}'
}

if [ "$MODE" = embedded ]; then
  echo "round binary handshakes/s broker_cpu_ms_per_handshake p99_ms"
  for r in $(seq "$ROUNDS"); do
    echo "$r new $(embedded_once "$NEW")"
    if [ -n "$OLD" ]; then echo "$r old $(embedded_once "$OLD")"; fi
  done
  exit 0
fi

# --- PostgreSQL: a throwaway cluster with pg_stat_statements -------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_as() { if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }
PGDATA_DIR="$TMP/pg"; mkdir -p "$PGDATA_DIR"; chmod 700 "$PGDATA_DIR"
[ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$PGDATA_DIR" "$TMP" && chmod 755 "$TMP"
PGPORT=$(free_port)
pg_as "$PGBIN/initdb" -D "$PGDATA_DIR" -U remits --auth=trust >/dev/null
cat >> "$PGDATA_DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDATA_DIR'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
max_connections = 200
EOF
pg_as "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/log" -w start >/dev/null
PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U remits -d postgres -qtA)
"${PSQL[@]}" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
pg_cpu() { # sum of utime+stime over the cluster's processes
  local pm; pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
  { echo "$pm"; pgrep -P "$pm"; } | while read -r p; do cpu_ticks "$p" 2>/dev/null || echo 0; done | awk '{s+=$1} END {print s+0}'
}
statements() { "${PSQL[@]}" -c "SELECT coalesce(sum(calls),0) FROM pg_stat_statements" ; }

"$NEW" keygen admin --out "$TMP/admin.pem" >/dev/null
"$NEW" keygen token-key --out "$TMP/token.pem" >/dev/null
"$NEW" keygen kek --out "$TMP/kek" >/dev/null
allow_all

start_broker() { # PORT -> pid
  local port=$1
  cat > "$TMP/b$port.toml" <<EOF
listen = "127.0.0.1:$port"
[storage]
backend = "postgres"
url = "postgresql://remits@127.0.0.1:$PGPORT/postgres"
sslmode = "disable"
sessions = "store"
kek_file = "$TMP/kek"
rollback_marks_file = "$TMP/marks-$port"
[[admin.keys]]
name = "bench"
public_key = "$TMP/admin.pub.pem"
[attestation]
token_signing_key = "$TMP/token.pem"
allow_sample = true
attestation_policy = "development"
EOF
  "$NEW" serve --config "$TMP/b$port.toml" >/dev/null 2>&1 &
  local pid=$!; PIDS+=("$pid"); wait_up "http://127.0.0.1:$port"; echo "$pid"
}

echo "replicas handshakes/s broker_cpu_ms_per_handshake postgres_cpu_ms_per_handshake statements_per_handshake p99_ms"
for replicas in 1 3; do
  for r in $(seq "$ROUNDS"); do
    ports=(); pids=()
    for _ in $(seq "$replicas"); do p=$(free_port); ports+=("$p"); pids+=("$(start_broker "$p")"); done
    url="http://127.0.0.1:${ports[0]}"
    if [ "$replicas" -gt 1 ]; then
      lb=$(free_port)
      {
        printf 'global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
        printf 'frontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  balance roundrobin\n' "$lb"
        for p in "${ports[@]}"; do printf '  server s%s 127.0.0.1:%s\n' "$p" "$p"; done
      } > "$TMP/haproxy.cfg"
      haproxy -f "$TMP/haproxy.cfg" >/dev/null 2>&1 &
      PIDS+=("$!"); hp=$!; url="http://127.0.0.1:$lb"; wait_up "$url"
    fi
    "$NEW" admin --broker "$url" --key "$TMP/admin.pem" set-resource-policy "$TMP/allow.rego" >/dev/null
    head -c 32 /dev/urandom > "$TMP/s"
    "$NEW" admin --broker "$url" --key "$TMP/admin.pem" put-resource default/key/1 --file "$TMP/s" >/dev/null
    b0=0; for p in "${pids[@]}"; do b0=$((b0 + $(cpu_ticks "$p"))); done
    g0=$(pg_cpu); s0=$(statements)
    line=$(run_load "$url")
    b1=0; for p in "${pids[@]}"; do b1=$((b1 + $(cpu_ticks "$p"))); done
    g1=$(pg_cpu); s1=$(statements)
    awk -v k="$replicas" -v hs="$(per_s "$line")" -v b=$((b1 - b0)) -v g=$((g1 - g0)) -v s=$((s1 - s0)) \
        -v t="$TICK" -v n="$N" -v p="$(p99 "$line")" \
      'BEGIN {printf "%d %.0f %.3f %.3f %.1f %.1f\n", k, hs, b / t * 1000 / n, g / t * 1000 / n, s / n, p}'
    for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
    if [ "$replicas" -gt 1 ]; then kill "$hp"; wait "$hp" 2>/dev/null || true; fi
    "${PSQL[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
  done
done
