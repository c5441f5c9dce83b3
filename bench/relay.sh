#!/usr/bin/env bash
# Relay benchmark: estafeta and Postfix side by side, in one run, each relaying the same
# load to Postfix's smtp-sink on another loopback address. smtp-source submits
# 5000 messages of 4 KiB over 20 sessions (-d: many messages per session) to the relay;
# the relay queues them durably and delivers them to the sink through a per-domain route
# (estafeta: [[delivery.route]], Postfix: transport_maps), at most 20 connections to it
# (Postfix's default_destination_concurrency_limit), 5 for estafeta (its default
# delivery.max_connections_per_destination): each server as it comes.
#   bench/relay.sh                      both at their defaults
#   EST_CONCURRENCY=20 bench/relay.sh   estafeta with Postfix's 20 connections
# Prints per server: accepted messages/s, seconds until the sink has every message,
# relayed messages/s, seconds until the relay's queue is empty; then estafeta over
# Postfix. Loopback only; bounded; stops by itself. Installs postfix if missing.
set -euo pipefail

MESSAGES="${MESSAGES:-5000}"
SESSIONS="${SESSIONS:-20}"
SIZE="${SIZE:-4096}"
EST_CONCURRENCY="${EST_CONCURRENCY:-5}"
PF_CONCURRENCY="${PF_CONCURRENCY:-20}"
EST_LOG="${EST_LOG:-info}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d /tmp/estafeta-relay.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025
SINK_IP=127.0.0.26; SINK_PORT=10026
PF_CONF="$WORK/postfix"
EST_PID=""; SINK_PID=""

cleanup() {
    [ -n "$EST_PID" ] && kill "$EST_PID" 2>/dev/null || true
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

need() {
    if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null || ! command -v postfix >/dev/null; then
        echo "bench: installing postfix (smtp-source, smtp-sink, the peer)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
    fi
}

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

wait_until() { # command-that-succeeds-when-done timeout-seconds what
    local deadline=$(( $(date +%s) + $2 ))
    until $1; do
        [ "$(date +%s)" -ge "$deadline" ] && { echo "bench: timed out waiting for $3" >&2; return 1; }
        sleep 0.05
    done
}

# ---------------------------------------------------------------- the sink
start_sink() {
    : > "$WORK/sink.out"
    smtp-sink -u nobody -c "$SINK_IP:$SINK_PORT" 1000 > "$WORK/sink.out" 2>"$WORK/sink.err" &
    SINK_PID=$!
    for _ in $(seq 1 100); do
        python3 -c "import socket; socket.create_connection(('$SINK_IP', $SINK_PORT), 1).close()" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: smtp-sink did not start" >&2; cat "$WORK/sink.err" >&2; exit 1
}
stop_sink() { kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""; }
# smtp-sink -c prints "sess=N quit=N mesg=N" after each event; the connection from
# the readiness probe above counts as a session, not as a message
sink_count() { tr '\r' '\n' < "$WORK/sink.out" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
sink_has_all() { [ "$(sink_count || echo 0)" -ge "$MESSAGES" ] 2>/dev/null; }

# ---------------------------------------------------------------- estafeta
EST_BIN="$TARGET/release/estafeta"
build_estafeta() { (cd "$ROOT" && cargo build --release -q -p estafeta); }

est_queue_empty() {
    python3 - "$WORK/est/estafeta.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
sys.exit(0 if db.execute("SELECT COUNT(*) FROM queue_messages").fetchone()[0] == 0 else 1)
PY
}

start_estafeta() {
    rm -rf "$WORK/est"; mkdir -p "$WORK/est"
    cat > "$WORK/est.toml" <<TOML
hostname = "estafeta.bench"
data_dir = "$WORK/est"
[log]
level = "warn"
[smtp]
# a load generator is one client sending far more than a person would
unauthenticated_commands_per_minute = 0
max_connections_per_ip = 1000
[delivery]
max_connections_per_destination = $EST_CONCURRENCY
[[delivery.route]]
domain = "relay.test"
host = "$SINK_IP"
port = $SINK_PORT
tls = "none"
[[listener]]
address = "$EST_IP"
port = $EST_PORT
protocol = "smtp"
tls = "none"
TOML
    ESTAFETA_LOG="$EST_LOG" "$EST_BIN" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
    EST_PID=$!
    for _ in $(seq 1 200); do grep -q "estafeta ready" "$WORK/est.log" && return 0; sleep 0.05; done
    echo "bench: estafeta did not start" >&2; cat "$WORK/est.log" >&2; exit 1
}
stop_estafeta() { kill "$EST_PID"; wait "$EST_PID" || true; EST_PID=""; }

# ---------------------------------------------------------------- postfix
setup_postfix() {
    postfix stop >/dev/null 2>&1 || true   # the instance the package started on port 25
    mkdir -p "$PF_CONF"
    [ -f /etc/postfix/main.cf ] || touch /etc/postfix/main.cf
    if ! grep -q "^alternate_config_directories" /etc/postfix/main.cf; then
        echo "alternate_config_directories = /tmp" >> /etc/postfix/main.cf
    fi
    sed -i "s|^alternate_config_directories.*|alternate_config_directories = $PF_CONF|" /etc/postfix/main.cf
    cat > "$PF_CONF/main.cf" <<CF
compatibility_level = 3.6
myhostname = postfix.bench
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
queue_directory = $WORK/pf-queue
data_directory = $WORK/pf-data
maillog_file = $WORK/pf.log
maillog_file_prefixes = /tmp
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
relay_domains = relay.test
transport_maps = inline:{ relay.test=smtp:[$SINK_IP]:$SINK_PORT }
default_destination_concurrency_limit = $PF_CONCURRENCY
smtp_destination_concurrency_limit = $PF_CONCURRENCY
CF
    # the shipped master.cf without chroot, smtpd only on our own address
    awk 'BEGIN{OFS=" "} /^#/ || /^[ \t]/ || NF<8 {print; next} $1=="smtp" && $2=="inet" {next} {$5="n"; print}' \
        /etc/postfix/master.cf > "$PF_CONF/master.cf"
    echo "$PF_IP:$PF_PORT inet n - n - - smtpd" >> "$PF_CONF/master.cf"
    mkdir -p "$WORK/pf-queue" "$WORK/pf-data"
    postfix -c "$PF_CONF" post-install create-missing >/dev/null 2>&1 || true
    chown postfix "$WORK/pf-data"
}

pf_queue_empty() {
    [ "$(find "$WORK/pf-queue/incoming" "$WORK/pf-queue/active" "$WORK/pf-queue/deferred" \
        "$WORK/pf-queue/maildrop" -type f 2>/dev/null | wc -l)" -eq 0 ]
}

start_postfix() {
    if ! postfix -c "$PF_CONF" start >"$WORK/pf-start.log" 2>&1; then
        echo "bench: postfix did not start:" >&2; cat "$WORK/pf-start.log" >&2; exit 1
    fi
    for _ in $(seq 1 200); do
        python3 -c "import socket; socket.create_connection(('$PF_IP', $PF_PORT), 1).close()" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: postfix did not start" >&2; tail -20 "$WORK/pf.log" >&2; exit 1
}
stop_postfix() { postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------- runs
# run IP PORT QUEUE-EMPTY-FN → "accepted/s sink-all-s relayed/s queue-empty-s"
run() {
    local ip=$1 port=$2 empty=$3
    local t0 t1 t2 t3
    t0=$(now)
    smtp-source -d -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@source.test -t u@relay.test "$ip:$port"
    t1=$(now)
    wait_until sink_has_all 300 "$MESSAGES messages at the sink"
    t2=$(now)
    wait_until "$empty" 300 "an empty queue"
    t3=$(now)
    echo "$(rate "$MESSAGES" "$t0" "$t1") $(elapsed "$t0" "$t2") $(rate "$MESSAGES" "$t0" "$t2") $(elapsed "$t0" "$t3")"
}

need
build_estafeta
setup_postfix

start_sink; start_estafeta
read -r ea es er eq < <(run $EST_IP $EST_PORT est_queue_empty)
stop_estafeta; stop_sink
start_sink; start_postfix
read -r pa ps pr pq < <(run $PF_IP $PF_PORT pf_queue_empty)
stop_postfix; stop_sink

printf "%-24s %14s %14s %14s %14s\n" "relay" "accepted msg/s" "all at sink s" "relayed msg/s" "queue empty s"
printf "%-24s %14s %14s %14s %14s\n" "estafeta" "$ea" "$es" "$er" "$eq"
printf "%-24s %14s %14s %14s %14s\n" "postfix" "$pa" "$ps" "$pr" "$pq"
printf "%-24s %14s %14s %14s %14s\n" "ratio estafeta/postfix" \
    "$(python3 -c "print(f'{$ea/$pa:.1f}x')")" "" "$(python3 -c "print(f'{$er/$pr:.1f}x')")" ""
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS connections to the sink: estafeta $EST_CONCURRENCY, postfix $PF_CONCURRENCY; estafeta log level $EST_LOG; machine: $(nproc) cores"
