#!/usr/bin/env bash
# One node against three on one PostgreSQL: SMTP acceptance and local delivery to one
# database, driven by Postfix's smtp-source. One node takes MESSAGES messages of SIZE
# octets from SESSIONS sessions; then three nodes (three estafeta processes on three
# loopback addresses, one database) take the same total, a third each, at the same time.
# While each load runs, a Python client sends LATENCY_PROBES single messages in a row to
# one node and times each (connect to 250), for the latency under load.
#   PG=postgres://postgres@127.0.0.1:5432 bash bench/cluster.sh
# Knobs: MESSAGES, SESSIONS, SIZE, LATENCY_PROBES, PG (the server's admin URL, without a
# database), EST_BIN.
# Prints per setup: accepted msg/s, seconds until every message is in the mailbox,
# delivered msg/s, the probe's median and 99th-percentile latency; then three over one,
# and PostgreSQL's commits per second during each run (the bottleneck to look at).
set -euo pipefail
BENCH=cluster
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=6000 SESSIONS=24 SIZE=4096 LATENCY_PROBES=200 PG=postgres://postgres@127.0.0.1:5432
WORK="$(mktemp -d /tmp/estafeta-bench.XXXXXX)"
chmod 755 "$WORK"
DB="estafeta_cluster_$$"
PORT=10040
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null || die "cannot make database $DB on $PG"
AT_EXIT="psql '$PG/postgres' -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)' >/dev/null 2>&1 || true"
PIDS=()
stop_nodes() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_nodes; bench_cleanup' EXIT

need postfix smtp-source postfix
est_binary

node_toml() { # N: node N's configuration in $WORK/node-N.toml, listening on 127.0.0.4N
    mkdir -p "$WORK/node-$1"
    cat > "$WORK/node-$1.toml" <<TOML
hostname = "estafeta.bench"
data_dir = "$WORK/node-$1"
[log]
level = "warn"
[storage]
engine = "postgres"
url = "$PG/$DB"
max_connections = 16
[smtp]
unauthenticated_commands_per_minute = 0
trusted_networks = []
max_connections_per_ip = 1000
[trust]
checks = false
$(listener "127.0.0.4$1" $PORT smtp)
TOML
}

start_nodes() { # N: N nodes on a fresh database with user u@bench.test
    psql "$PG/$DB" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1
    local n
    for n in $(seq 1 "$1"); do node_toml "$n"; done
    "$EST" -c "$WORK/node-1.toml" domain add bench.test >/dev/null
    echo pw | "$EST" -c "$WORK/node-1.toml" user add u@bench.test --password-stdin >/dev/null
    for n in $(seq 1 "$1"); do
        ESTAFETA_LOG=info "$EST" -c "$WORK/node-$n.toml" serve 2>"$WORK/node-$n.log" &
        PIDS+=($!)
        for _ in $(seq 1 1200); do grep -q "estafeta ready" "$WORK/node-$n.log" && break; sleep 0.05; done
        grep -q "estafeta ready" "$WORK/node-$n.log" || die "node $n did not start: $(tail -3 "$WORK/node-$n.log")"
    done
}
stored() { psql "$PG/$DB" -Atc "SELECT COUNT(*) FROM mailbox_messages"; }
commits() { psql "$PG/postgres" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'"; }

probe() { # ADDRESS: LATENCY_PROBES messages one after another, each timed; prints p50 p99 in ms
    python3 - "$1" "$PORT" "$LATENCY_PROBES" <<'PY'
import smtplib, sys, time, statistics
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for i in range(n):
    t = time.perf_counter()
    s = smtplib.SMTP(host, port)
    s.sendmail("probe@source.test", ["u@bench.test"], f"Subject: probe {i}\r\n\r\nhi\r\n")
    s.quit()
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"{statistics.median(times):.1f} {times[int(len(times) * 0.99) - 1]:.1f}")
PY
}

run() { # N: the load spread over N nodes; prints accepted_rate all_in_s delivered_rate p50 p99 commits_per_s
    local n=$1 each=$((MESSAGES / $1)) sessions=$((SESSIONS / $1)) t0 t1 t2 c0 c1 i
    local total=$((each * n + LATENCY_PROBES))
    c0=$(commits)
    t0=$(now)
    for i in $(seq 1 "$n"); do
        smtp-source -s "$sessions" -m "$each" -l "$SIZE" -d -f sender@source.test -t u@bench.test "127.0.0.4$i:$PORT" &
    done
    probe 127.0.0.41 > "$WORK/probe"
    wait_jobs
    t1=$(now)
    all_in() { [ "$(stored)" -ge "$total" ]; }
    wait_until all_in 300 "$total messages"
    t2=$(now)
    c1=$(commits)
    echo "$(rate $((each * n)) "$t0" "$t1") $(elapsed "$t0" "$t2") $(rate "$total" "$t0" "$t2") $(cat "$WORK/probe") $(rate $((c1 - c0)) "$t0" "$t2")"
}
wait_jobs() { local j; for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" ;; esac; done; }

row 22 "setup" "accepted msg/s" "all in s" "delivered msg/s" "p50 ms" "p99 ms" "PG commits/s"
start_nodes 1
read -r a1 s1 d1 p1 q1 c1 < <(run 1)
stop_nodes
start_nodes 3
read -r a3 s3 d3 p3 q3 c3 < <(run 3)
stop_nodes
row 22 "one node" "$a1" "$s1" "$d1" "$p1" "$q1" "$c1"
row 22 "three nodes" "$a3" "$s3" "$d3" "$p3" "$q3" "$c3"
row 22 "three / one" "$(ratio "$a3" "$a1")" "" "$(ratio "$d3" "$d1")" "" "" ""
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS (spread over the nodes) machine: $(nproc) cores, PostgreSQL on the same machine"
