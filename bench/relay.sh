#!/usr/bin/env bash
# Relay benchmark: estafeta and Postfix side by side, in one run, each relaying the same
# load to Postfix's smtp-sink on another loopback address. smtp-source submits
# 5000 messages of 4 KiB over 20 sessions (-d: many messages per session) to the relay;
# the relay queues them durably and delivers them to the sink through a per-domain route
# (estafeta: [[delivery.route]], Postfix: transport_maps), at most 20 connections to it
# (Postfix's default_destination_concurrency_limit), 20 for estafeta (its default
# delivery.max_connections_per_destination): each server as it comes.
#   bench/relay.sh                      both at their defaults
#   EST_CONCURRENCY=5 bench/relay.sh    estafeta with fewer connections than Postfix
#   DKIM=1 ROUNDS=3 bench/relay.sh      each twice: estafeta unsigned and DKIM-signing,
#                                       Postfix alone and with OpenDKIM signing
# DKIM=1: the sender's domain (source.test, also the From: smtp-source writes) is one of
# estafeta's (`estafeta domain add`) and the client is in smtp.trusted_networks (the
# default, loopback), so its mail is our users'; estafeta runs once without keys and
# once after `estafeta dkim generate source.test` (an RSA-2048 and an Ed25519 key: two
# signatures per message; DKIM_ALGORITHM=rsa or ed25519: that one); Postfix once alone
# and once with OpenDKIM as its milter, with keys of the same kinds. After each signing
# run of estafeta a message to a local user (v@source.test) is read back from the store
# and its signatures checked by python3-dkim against the records `estafeta dkim list`
# prints, and the log must hold no DKIM error (the relayed mail went through the same
# code); after each of Postfix's, one message is relayed to a sink that keeps it and its
# signatures checked the same way.
# Knobs: MESSAGES, SESSIONS, SIZE, PF_CONCURRENCY, EST_LOG (server log filter), DKIM,
# DKIM_ALGORITHM (rsa or ed25519: only that key, one signature; both when empty),
# ROUNDS (medians over that many runs of each), PY_DKIM (a Python with the dkim module,
# for DKIM=1: /usr/bin/python3), EST_BIN, PERF_OUT (a file: estafeta's runs recorded
# with `perf record -g` while they are timed).
# Prints per server: accepted messages/s, seconds until the sink has every message,
# relayed messages/s, seconds until the relay's queue is empty, estafeta's CPU time per
# message (to the empty queue), each the median of ROUNDS runs; then estafeta over
# Postfix, and with DKIM=1 the cost of signing per message. Loopback only; bounded;
# stops by itself. Installs postfix if missing.
set -euo pipefail
BENCH=relay
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=5000 SESSIONS=20 SIZE=4096 EST_CONCURRENCY=20 PF_CONCURRENCY=20 EST_LOG=info \
    DKIM=0 DKIM_ALGORITHM= ROUNDS=1 PY_DKIM=/usr/bin/python3 PERF_OUT=
WORK="$(mktemp -d /tmp/estafeta-relay.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025
SINK_IP=127.0.0.26; SINK_PORT=10026
SENDER=sender@source.test

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
start_estafeta() { # [unsigned|signed]: with DKIM=1, source.test one of ours, with keys or not
    set_aside "$WORK/est"
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
    if [ -n "${1:-}" ]; then
        est_users source.test pw v
        if [ "$1" = signed ]; then
            "$EST" -c "$WORK/est.toml" dkim generate source.test \
                ${DKIM_ALGORITHM:+--algorithm "$DKIM_ALGORITHM"} > "$WORK/dkim.txt"
        fi
    fi
    est_start "$EST_LOG"
}

# checks the DKIM signatures of one message to v@source.test, sent through the running
# estafeta, with python3-dkim: dies unless there is one per key and all verify
check_signatures() {
    local errors
    smtp-source -m 1 -l "$SIZE" -f "$SENDER" -t v@source.test "$EST_IP:$EST_PORT"
    "$EST" -c "$WORK/est.toml" dkim list source.test > "$WORK/dkim-list.txt"
    "$PY_DKIM" - "$WORK/est/estafeta.db" "$WORK/dkim-list.txt" "$([ -n "$DKIM_ALGORITHM" ] && echo 1 || echo 2)" <<'PY' || die "the signatures of estafeta's mail do not verify"
import re, sqlite3, sys
import dkim
records = {}
for line in open(sys.argv[2]):
    m = re.match(r"\s*(\S+)\.\s+IN\s+TXT\s+\((.*)\)\s*$", line)
    if m:
        records[m.group(1).lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=60)
(data,) = db.execute("SELECT b.data FROM mailbox_messages m JOIN blobs b ON b.hash = m.blob_hash "
                     "ORDER BY m.internal_date DESC LIMIT 1").fetchone()
data = bytes(data)
dnsfunc = lambda name, timeout=5: records.get(name.decode().rstrip(".").lower(), b"")
signatures = data.split(b"\r\n\r\n", 1)[0].lower().count(b"\r\ndkim-signature:") + data.lower().startswith(b"dkim-signature:")
ok = [dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc) for i in range(signatures)]
print(f"relay: one message to a local user: {signatures} DKIM signatures, verified: {ok} ({len(records)} keys listed)", file=sys.stderr)
sys.exit(0 if signatures == int(sys.argv[3]) and all(ok) else 1)
PY
    errors=$(grep -c 'ERROR.*DKIM' "$WORK/est.log" || true)
    [ "$errors" -eq 0 ] || die "$errors DKIM errors in estafeta's log"
}
# ---------------------------------------------------------------- Postfix's signer
# DKIM=1: Postfix also runs with OpenDKIM (Debian's opendkim) as its milter, signing
# source.test's mail with keys of the same kinds as estafeta's (RSA-2048 and Ed25519, or
# the one DKIM_ALGORITHM names), relaxed/relaxed: the stack estafeta replaces
# OpenDKIM takes one signing algorithm per instance (SignatureAlgorithm), so two keys
# are two instances, one milter each, as OpenDKIM's users sign with RSA and Ed25519
ODK_KINDS=""
odk_setup() {
    need opendkim opendkim
    need opendkim-tools opendkim-genkey
    mkdir -p "$WORK/odk"
    local port=10890 kind algorithm
    [ "$DKIM_ALGORITHM" != ed25519 ] && ODK_KINDS+=" rsa"
    [ "$DKIM_ALGORITHM" != rsa ] && ODK_KINDS+=" ed"
    for kind in $ODK_KINDS; do
        port=$((port + 1))
        if [ "$kind" = rsa ]; then
            opendkim-genkey -b 2048 -d source.test -s pfrsa -D "$WORK/odk"
            algorithm=rsa-sha256
        else
            openssl genpkey -algorithm ed25519 -out "$WORK/odk/pfed.private" 2>/dev/null
            algorithm=ed25519-sha256
        fi
        cat > "$WORK/odk/$kind.conf" <<CONF
Mode s
Socket inet:$port@127.0.0.1
Domain source.test
Selector pf$kind
KeyFile $WORK/odk/pf$kind.private
SignatureAlgorithm $algorithm
InternalHosts 127.0.0.0/8
Canonicalization relaxed/relaxed
RequireSafeKeys no
Syslog no
CONF
        ODK_MILTERS+="${ODK_MILTERS:+, }inet:127.0.0.1:$port"
    done
}
ODK_PIDS=()
AT_EXIT="odk_stop"
odk_start() {
    local kind port
    for kind in $ODK_KINDS; do
        opendkim -f -x "$WORK/odk/$kind.conf" 2>>"$WORK/odk.err" & ODK_PIDS+=($!)
        port=$(sed -n 's/^Socket inet:\([0-9]*\)@.*/\1/p' "$WORK/odk/$kind.conf")
        wait_until "port_open 127.0.0.1 $port" 10 "opendkim ($kind) to listen" || { cat "$WORK/odk.err" >&2; exit 1; }
    done
}
odk_stop() {
    local pid
    for pid in "${ODK_PIDS[@]+"${ODK_PIDS[@]}"}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    ODK_PIDS=()
}
# Postfix with its milters or without (a tempfail when a milter fails: never unsigned)
pf_milter() { # on|off
    if [ "$1" = on ]; then
        postconf -c "$PF_CONF" -e "smtpd_milters = $ODK_MILTERS" "milter_default_action = tempfail"
    else
        postconf -c "$PF_CONF" -e "smtpd_milters ="
    fi
}
# one message relayed through Postfix and OpenDKIM to a sink that keeps it: dies unless
# it has one signature per key and all verify (python3-dkim, with the public keys)
check_pf_signatures() {
    rm -rf "$WORK/dump"; mkdir -p "$WORK/dump"; chmod 777 "$WORK/dump"   # smtp-sink writes as nobody, and appends
    smtp-sink -u nobody -D "$WORK/dump/message" -c "$SINK_IP:$SINK_PORT" 10 > /dev/null 2>&1 & local dump_pid=$!
    wait_until "port_open $SINK_IP $SINK_PORT" 5 "the dumping smtp-sink to listen"
    smtp-source -m 1 -l "$SIZE" -f "$SENDER" -t u@relay.test "$PF_IP:$PF_PORT"
    wait_until "[ -s $WORK/dump/message ]" 60 "the signed message at the sink"
    kill "$dump_pid" 2>/dev/null || true; wait "$dump_pid" 2>/dev/null || true
    local ed=""
    [ -f "$WORK/odk/pfed.private" ] && ed=$(openssl pkey -in "$WORK/odk/pfed.private" -pubout -outform DER | tail -c 32 | base64)
    "$PY_DKIM" - "$WORK/dump/message" "$WORK/odk/pfrsa.txt" "$ed" "$([ -n "$DKIM_ALGORITHM" ] && echo 1 || echo 2)" <<'PY' || die "the signatures of Postfix's mail do not verify"
import os, re, sys
import dkim
records = {}
if os.path.exists(sys.argv[2]):
    txt = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read()))
    records["pfrsa._domainkey.source.test"] = txt.encode()
if sys.argv[3]:
    records["pfed._domainkey.source.test"] = f"v=DKIM1; k=ed25519; p={sys.argv[3]}".encode()
data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
dnsfunc = lambda name, timeout=5: records.get(name.decode().rstrip(".").lower(), b"")
head = data.split(b"\r\n\r\n", 1)[0].lower()
signatures = head.count(b"\r\ndkim-signature:") + head.startswith(b"dkim-signature:")
ok = [dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc) for i in range(signatures)]
print(f"relay: one message through Postfix and OpenDKIM: {signatures} DKIM signatures, verified: {ok}", file=sys.stderr)
sys.exit(0 if signatures == int(sys.argv[4]) and all(ok) else 1)
PY
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
    smtp-source -d -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t u@relay.test "$ip:$port"
    t1=$(now)
    wait_until sink_has_all 300 "$MESSAGES messages at the sink"
    t2=$(now)
    wait_until "$empty" 300 "an empty queue"
    t3=$(now)
    echo "$(rate "$MESSAGES" "$t0" "$t1") $(elapsed "$t0" "$t2") $(rate "$MESSAGES" "$t0" "$t2") $(elapsed "$t0" "$t3")"
}

# run_est [unsigned|signed]: one run of estafeta, its figures and CPU ms per message
# appended to the arrays named after the mode (EST_, or EST_unsigned_ / EST_signed_)
run_est() {
    local mode=${1:-} a s r q cpu
    start_sink; start_estafeta "$mode"
    local perf_pid=""
    if [ -n "$PERF_OUT" ]; then
        perf record -q -F 1999 -g -p "$EST_PID" -o "$PERF_OUT" >/dev/null 2>&1 & perf_pid=$!
    fi
    read -r a s r q < <(run $EST_IP $EST_PORT est_queue_empty)
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; say "perf data in $PERF_OUT"; fi
    [ -n "$q" ] || die "estafeta's run did not finish"
    cpu=$(est_cpu_ms "$MESSAGES")
    [ "$mode" = signed ] && check_signatures
    est_stop; stop_sink
    eval "EST_${mode}${mode:+_}A+=($a) EST_${mode}${mode:+_}S+=($s) EST_${mode}${mode:+_}R+=($r) EST_${mode}${mode:+_}Q+=($q) EST_${mode}${mode:+_}CPU+=($cpu)"
    say "estafeta${mode:+, $mode}: accepted $a msg/s, all at sink $s s, relayed $r msg/s, queue empty $q s, CPU $cpu ms/msg"
}

# run_pf [signed]: one run of Postfix (signed: with OpenDKIM), its figures appended to
# PF_ (or PF_signed_)
run_pf() {
    local mode=${1:-} a s r q
    if [ "$mode" = signed ]; then pf_milter on; odk_start; else pf_milter off; fi
    start_sink; pf_start
    read -r a s r q < <(run $PF_IP $PF_PORT pf_queue_empty)
    [ -n "$q" ] || die "postfix's run did not finish"
    stop_sink
    [ "$mode" = signed ] && { check_pf_signatures; odk_stop; }
    pf_stop
    eval "PF_${mode}${mode:+_}A+=($a) PF_${mode}${mode:+_}S+=($s) PF_${mode}${mode:+_}R+=($r) PF_${mode}${mode:+_}Q+=($q)"
    say "postfix${mode:+ + opendkim, $mode}: accepted $a msg/s, all at sink $s s, relayed $r msg/s, queue empty $q s"
}

need postfix smtp-source smtp-sink postfix
if [ "$DKIM" = 1 ] && ! "$PY_DKIM" -c 'import dkim, nacl' 2>/dev/null; then
    [ "$PY_DKIM" = /usr/bin/python3 ] || die "$PY_DKIM has no dkim or nacl module"
    say "installing python3-dkim and python3-nacl (to check the signatures)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dkim python3-nacl >/dev/null
fi
est_binary
pf_setup <<CF
relay_domains = relay.test
transport_maps = inline:{ relay.test=smtp:[$SINK_IP]:$SINK_PORT }
default_destination_concurrency_limit = $PF_CONCURRENCY
smtp_destination_concurrency_limit = $PF_CONCURRENCY
CF

MODES=""; [ "$DKIM" = 1 ] && { MODES="unsigned signed"; odk_setup; }
for round in $(seq 1 "$ROUNDS"); do
    if [ -n "$MODES" ]; then for mode in $MODES; do run_est "$mode"; done; else run_est; fi
    run_pf
    [ -n "$MODES" ] && run_pf signed
done

m() { local -n values=$1; median "${values[@]}"; }   # ARRAY-NAME: its median
est_row() { # LABEL PREFIX: the medians of one estafeta mode
    row 24 "$1" "$(m "${2}A")" "$(m "${2}S")" "$(m "${2}R")" "$(m "${2}Q")" "$(m "${2}CPU")"
}
ratio_row() { # LABEL ESTAFETA-PREFIX [POSTFIX-PREFIX]
    local pf=${3:-PF_}
    row 24 "$1" "$(ratio "$(m "${2}A")" "$(m "${pf}A")")" "" "$(ratio "$(m "${2}R")" "$(m "${pf}R")")" "" ""
}
[ "$ROUNDS" -gt 1 ] && echo "medians of $ROUNDS runs each"
row 24 "relay" "accepted msg/s" "all at sink s" "relayed msg/s" "queue empty s" "CPU ms/msg"
if [ -z "$MODES" ]; then
    est_row "estafeta" EST_
else
    est_row "estafeta, unsigned" EST_unsigned_
    est_row "estafeta, DKIM-signed" EST_signed_
fi
row 24 "postfix" "$(m PF_A)" "$(m PF_S)" "$(m PF_R)" "$(m PF_Q)" ""
[ -n "$MODES" ] && row 24 "postfix + opendkim" "$(m PF_signed_A)" "$(m PF_signed_S)" "$(m PF_signed_R)" "$(m PF_signed_Q)" ""
if [ -z "$MODES" ]; then
    ratio_row "ratio estafeta/postfix" EST_
else
    ratio_row "ratio unsigned/postfix" EST_unsigned_
    ratio_row "ratio signed/pf+opendkim" EST_signed_ PF_signed_
    ratio_row "ratio signed/postfix" EST_signed_
    python3 -c "print(f'cost of signing per message: {1000 / $(m EST_signed_R) - 1000 / $(m EST_unsigned_R):.3f} ms relayed, {1000 / $(m EST_signed_A) - 1000 / $(m EST_unsigned_A):.3f} ms accepted (1/rate_signed - 1/rate_unsigned, medians), {$(m EST_signed_CPU) - $(m EST_unsigned_CPU):.3f} ms of estafeta CPU')"
    for x in A R; do
        for mode in unsigned signed; do
            declare -n runs="EST_${mode}_$x"; echo "runs, estafeta $mode, $([ $x = A ] && echo accepted || echo relayed) msg/s: ${runs[*]}"; unset -n runs
        done
    done
fi
[ "$ROUNDS" -gt 1 ] && echo "runs, postfix, accepted msg/s: ${PF_A[*]}; relayed msg/s: ${PF_R[*]}"
[ "$ROUNDS" -gt 1 ] && [ -n "$MODES" ] && echo "runs, postfix + opendkim, accepted msg/s: ${PF_signed_A[*]}; relayed msg/s: ${PF_signed_R[*]}"
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS connections to the sink: estafeta $EST_CONCURRENCY, postfix $PF_CONCURRENCY; estafeta log level $EST_LOG; DKIM=$DKIM${DKIM_ALGORITHM:+ ($DKIM_ALGORITHM only)} rounds=$ROUNDS; machine: $(nproc) cores"
