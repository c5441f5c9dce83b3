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
# Knobs: MESSAGES, SESSIONS, SIZE, PF_CONCURRENCY, EST_LOG (server log filter), EST_BIN.
# Prints per server: accepted messages/s, seconds until the sink has every message,
# relayed messages/s, seconds until the relay's queue is empty; then estafeta over
# Postfix. Loopback only; bounded; stops by itself. Installs postfix if missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=5000 SESSIONS=20 SIZE=4096 EST_CONCURRENCY=5 PF_CONCURRENCY=20 EST_LOG=info
WORK="$(mktemp -d /tmp/estafeta-relay.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025
SINK_IP=127.0.0.26; SINK_PORT=10026

# ---------------------------------------------------------------- the sink
start_sink() {
    smtp-sink -u nobody -c "$SINK_IP:$SINK_PORT" 1000 > "$WORK/sink.out" 2>"$WORK/sink.err" &
    SINK_PID=$!
    wait_until "port_open $SINK_IP $SINK_PORT" 5 "smtp-sink to listen" || { cat "$WORK/sink.err" >&2; exit 1; }
}
stop_sink() { kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""; }
# smtp-sink -c prints "sess=N quit=N mesg=N" after each event; the connection from
# the readiness probe above counts as a session, not as a message
sink_count() { tr '\r' '\n' < "$WORK/sink.out" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
sink_has_all() { [ "$(sink_count || echo 0)" -ge "$MESSAGES" ] 2>/dev/null; }

# ---------------------------------------------------------------- the relays
start_estafeta() {
    rm -rf "$WORK/est"
    est_toml estafeta.bench "$WORK/est" warn <<TOML
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
$(listener $EST_IP $EST_PORT smtp)
TOML
    est_start "$EST_LOG"
}
est_queue_empty() { [ "$(db_count "$WORK/est/estafeta.db" queue_messages)" -eq 0 ]; }

pf_queue_empty() {
    [ "$(find "$WORK/pf-queue/incoming" "$WORK/pf-queue/active" "$WORK/pf-queue/deferred" \
        "$WORK/pf-queue/maildrop" -type f 2>/dev/null | wc -l)" -eq 0 ]
}

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

need postfix smtp-source smtp-sink postfix
est_binary
pf_setup <<CF
relay_domains = relay.test
transport_maps = inline:{ relay.test=smtp:[$SINK_IP]:$SINK_PORT }
default_destination_concurrency_limit = $PF_CONCURRENCY
smtp_destination_concurrency_limit = $PF_CONCURRENCY
CF

start_sink; start_estafeta
read -r ea es er eq < <(run $EST_IP $EST_PORT est_queue_empty)
est_stop; stop_sink
start_sink; pf_start
read -r pa ps pr pq < <(run $PF_IP $PF_PORT pf_queue_empty)
pf_stop; stop_sink

row 24 "relay" "accepted msg/s" "all at sink s" "relayed msg/s" "queue empty s"
row 24 "estafeta" "$ea" "$es" "$er" "$eq"
row 24 "postfix" "$pa" "$ps" "$pr" "$pq"
row 24 "ratio estafeta/postfix" "$(ratio "$ea" "$pa")" "" "$(ratio "$er" "$pr")" ""
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS connections to the sink: estafeta $EST_CONCURRENCY, postfix $PF_CONCURRENCY; estafeta log level $EST_LOG; machine: $(nproc) cores"
