#!/usr/bin/env bash
# Trust benchmark: acceptance of DKIM-signed mail from outside with estafeta's checks
# (SPF of HELO and MAIL FROM, DKIM, ARC, DMARC) on and off, and Postfix's plain
# acceptance of the same messages, side by side in one run. Local delivery, durable
# (fsync'd) in both, as in bench/smtp.sh.
#
# bench/dns.py answers on 127.0.0.1:10053 for sender.test: SPF "v=spf1 ip4:127.0.0.1
# -all" (also for the HELO name mail.sender.test), DMARC "v=DMARC1; p=reject", and the
# DKIM keys the messages were signed with (made here: `openssl genrsa` 2048 for rsa,
# PyNaCl for ed25519; signed by Debian's python3-dkim, relaxed/relaxed, d=sender.test).
# estafeta (127.0.0.30:10030, protocol smtp, trusted_networks = [], delivery.dns_servers
# the server above, logging at info) and Postfix (127.0.0.25:10025, as in smtp.sh) get
# MESSAGES messages over SESSIONS sessions, many messages per session, from 127.0.0.1,
# to u@bench.test from a@sender.test (From: the same):
#   CLIENT=smtp-source  smtp-source -d -F (as smtp.sh uses it, with a prepared file):
#                       one signed message (body SIZE octets) sent MESSAGES times
#   CLIENT=python       an asyncio client (EHLO; PIPELINING when offered) sending
#                       MESSAGES different messages, each signed on its own
# Each round runs (a) estafeta with [trust] checks = true, (b) estafeta with checks =
# false, (c) Postfix; ROUNDS rounds, then the medians. Before a round counts, what
# estafeta stored is read back from its SQLite file: with checks on every message must
# carry Authentication-Results: estafeta.bench; with dkim=pass, spf=pass and dmarc=pass,
# with checks off none may carry one; Postfix's Maildir must hold every message. Each run
# starts after a sync, the previous run's files set aside (deleted at exit: deleting
# them right before a run slowed it, see lib.sh's set_aside).
#   bench/trust.sh                       5000 messages of 4 KiB, 20 sessions, 3 rounds
#   CLIENT=python KEYS="rsa ed25519" bench/trust.sh
# Knobs: MESSAGES, SESSIONS, SIZE (body octets), ROUNDS, CLIENT, KEYS (rsa, ed25519 or
# both: one DKIM-Signature each), DNS_TTL (seconds; 0: nothing cached, though the
# resolver still shares a question already in flight),
# SPF_FAIL (trust.spf_fail, "tag"; "ignore" leaves SPF out), EST_LOG, PY_DKIM (a Python
# with the dkim and nacl modules, /usr/bin/python3), EST_BIN.
# Prints per round and as medians: accepted msg/s, each over Postfix's, estafeta's CPU
# time per message, the DNS questions dns.py answered, the client's CPU per message; then
# the checks' cost per message, (1/rate_on - 1/rate_off) and in estafeta's CPU, and one
# message's Authentication-Results. Loopback only; stops by itself.
set -euo pipefail
BENCH=trust
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=5000 SESSIONS=20 SIZE=4096 ROUNDS=3 CLIENT=smtp-source KEYS=rsa DNS_TTL=300 \
    SPF_FAIL=tag EST_LOG=info PY_DKIM=/usr/bin/python3
WORK="$(mktemp -d /tmp/estafeta-trust.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025
DNS_IP=127.0.0.1; DNS_PORT=10053
CLIENT_IP=127.0.0.1
SENDER=a@sender.test; RCPT=u@bench.test; HELO=mail.sender.test
DNS_PID=""
# the mail goes at exit; logs, DNS counts and records stay in $WORK
AT_EXIT='[ -z "$DNS_PID" ] || kill "$DNS_PID" 2>/dev/null || true; rm -rf "$WORK/est" "$WORK/pf-mail" "$WORK/msgs.bin"'
case "$CLIENT" in smtp-source|python) ;; *) die "CLIENT is smtp-source or python, not $CLIENT" ;; esac

# ---------------------------------------------------------------- keys, messages, DNS
need postfix smtp-source postfix
need openssl openssl
if ! "$PY_DKIM" -c 'import dkim, nacl' 2>/dev/null; then
    [ "$PY_DKIM" = /usr/bin/python3 ] || die "$PY_DKIM has no dkim or nacl module"
    say "installing python3-dkim and python3-nacl (the signer)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dkim python3-nacl >/dev/null
fi
est_binary
for key in $KEYS; do
    case "$key" in
        rsa) openssl genrsa -out "$WORK/rsa.pem" 2048 2>/dev/null ;;
        ed25519) ;;
        *) die "KEYS holds rsa and/or ed25519, not $key" ;;
    esac
done

say "signing $([ "$CLIENT" = python ] && echo "$MESSAGES messages" || echo "one message") ($KEYS)"
"$PY_DKIM" - "$WORK" "$([ "$CLIENT" = python ] && echo "$MESSAGES" || echo 1)" "$SIZE" \
    "$SENDER" "$RCPT" "$HELO" $KEYS <<'PY'
"""Writes WORK/msgs.bin (each message as sent in DATA: CRLF, dot-stuffed, after a 4-octet
big-endian length), WORK/msg.txt (the first one with LF endings, for smtp-source -F)
and WORK/dns.json (SPF, DMARC and the DKIM key records), signing on both cores."""
import base64, json, multiprocessing, os, random, struct, subprocess, sys, time
import dkim, nacl.signing

work, n, size, sender, rcpt, helo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:7]
kinds = sys.argv[7:]
domain = sender.split("@")[1]
signed_fields = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]
keys = []  # (selector, private key, algorithm)
records = {"TXT": {domain: "v=spf1 ip4:127.0.0.1 -all", helo: "v=spf1 ip4:127.0.0.1 -all",
                   f"_dmarc.{domain}": f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"}}
for kind in kinds:
    if kind == "rsa":
        pem = open(os.path.join(work, "rsa.pem"), "rb").read()
        der = subprocess.run(["openssl", "rsa", "-in", os.path.join(work, "rsa.pem"), "-pubout",
                              "-outform", "DER"], capture_output=True, check=True).stdout
        keys.append((b"bench-rsa", pem, b"rsa-sha256"))
        records["TXT"][f"bench-rsa._domainkey.{domain}"] = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    else:
        sk = nacl.signing.SigningKey.generate()
        keys.append((b"bench-ed25519", base64.b64encode(bytes(sk)), b"ed25519-sha256"))
        records["TXT"][f"bench-ed25519._domainkey.{domain}"] = \
            "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode()

WORDS = "invoice meeting report holiday budget release draft photo contract review".split()

def message(i):
    rnd = random.Random(i)
    head = (f"From: Bench Sender <{sender}>\r\nTo: <{rcpt}>\r\nSubject: trust bench {i}\r\n"
            f"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{i}.{os.getpid()}.{time.time_ns()}@{domain}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    body, line = [], []
    total = 0
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(9))[:74]
        line = line[:max(1, size - total - 2)]
        body.append(line)
        total += len(line) + 2
    raw = (head + "\r\n".join(body) + "\r\n").encode()
    sigs = b""
    for selector, key, algorithm in keys:
        sigs = dkim.sign(raw, selector, domain.encode(), key, include_headers=signed_fields,
                         canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm) + sigs
    return sigs + raw

if __name__ == "__main__":
    with multiprocessing.Pool(os.cpu_count()) as pool:
        msgs = pool.map(message, range(n), chunksize=50)
    with open(os.path.join(work, "msgs.bin"), "wb") as f:
        for m in msgs:
            stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in m.split(b"\r\n"))
            f.write(struct.pack(">I", len(stuffed)) + stuffed)
    with open(os.path.join(work, "msg.txt"), "wb") as f:
        f.write(msgs[0].replace(b"\r\n", b"\n"))
    with open(os.path.join(work, "dns.json"), "w") as f:
        json.dump(records, f, indent=1)
    print(f"{n} messages, {sum(map(len, msgs)) // n} octets each on average", file=sys.stderr)
PY

python3 "$ROOT/bench/dns.py" --listen "$DNS_IP:$DNS_PORT" --ttl "$DNS_TTL" --json "$WORK/dns.json" \
    --stats "$WORK/dns.stats" --lifetime 7200 2>"$WORK/dns.log" &
DNS_PID=$!
wait_until "grep -q ready $WORK/dns.log" 10 "dns.py" || { cat "$WORK/dns.log" >&2; exit 1; }

dns_questions() { # SIGUSR1: dns.py writes its counts since the last call and starts again
    rm -f "$WORK/dns.stats"
    kill -USR1 "$DNS_PID"
    wait_until "test -f $WORK/dns.stats" 5 "dns.py's counts"
    head -1 "$WORK/dns.stats" | awk '{print $2}'
}

# ---------------------------------------------------------------- the servers
start_estafeta() { # CHECKS (true or false): a new data directory each time
    set_aside "$WORK/est"
    est_toml estafeta.bench "$WORK/est" warn <<TOML
[smtp]
# a load generator is one client sending far more than a person would
unauthenticated_commands_per_minute = 0
trusted_networks = []
max_connections_per_ip = 1000
[delivery]
dns_servers = ["$DNS_IP:$DNS_PORT"]
[trust]
checks = $1
spf_fail = "$SPF_FAIL"
$(listener $EST_IP $EST_PORT smtp)
TOML
    est_users bench.test pw u
    est_start "$EST_LOG"
}
est_count() { db_count "$WORK/est/estafeta.db" mailbox_messages; }

pf_count() { find "$WORK/pf-mail/u/new" -type f 2>/dev/null | wc -l; }

# what estafeta stored: "stored with-field dkim=pass spf=pass dmarc=pass", and one field
# in $WORK/ar-sample.txt
est_results() {
    python3 - "$WORK/est/estafeta.db" "$WORK/ar-sample.txt" <<'PY'
import re, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=60)
counts = [0, 0, 0, 0, 0]
sample = None
for (data,) in db.execute("SELECT b.data FROM mailbox_messages m JOIN blobs b ON b.hash = m.blob_hash"):
    counts[0] += 1
    head = bytes(data).split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    fields = re.split(r"\r\n(?![ \t])", head)
    ours = [f for f in fields if re.match(r"(?i)authentication-results:\s*estafeta\.bench\s*;", f)]
    if not ours:
        continue
    counts[1] += 1
    text = re.sub(r"\r\n[ \t]+", " ", ours[0])
    sample = sample or ours[0]
    for i, method in enumerate(("dkim", "spf", "dmarc"), 2):
        # every dkim= result must pass (one per signature), and spf's MAIL FROM result
        results = re.findall(rf"(?:;|\s){method}=(\w+)", text)
        if method == "spf":
            results = re.findall(r"spf=(\w+)[^;]*smtp\.mailfrom=", text)
        if results and all(r == "pass" for r in results):
            counts[i] += 1
print(*counts)
if sample:
    open(sys.argv[2], "w").write(sample + "\n")
PY
}

# ---------------------------------------------------------------- the client
# send IP PORT → "seconds client-cpu-seconds": from the first connection to the last 250
# (the client's own clock for python, around smtp-source otherwise), and the CPU time
# the client used (user + system, children's rusage)
send() {
    local ip=$1 port=$2 t0 t1
    if [ "$CLIENT" = smtp-source ]; then
        python3 - "$SESSIONS" "$MESSAGES" "$HELO" "$SENDER" "$RCPT" "$WORK/msg.txt" "$ip:$port" <<'PY'
import resource, subprocess, sys, time
s, m, helo, sender, rcpt, path, server = sys.argv[1:]
t0 = time.monotonic()
code = subprocess.call(["smtp-source", "-d", "-s", s, "-m", m, "-M", helo, "-f", sender, "-t", rcpt, "-F", path, server])
seconds = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{seconds:.4f} {r.ru_utime + r.ru_stime:.3f}" if code == 0 else "failed")
PY
        return
    fi
    python3 - "$ip" "$port" "$CLIENT_IP" "$SESSIONS" "$WORK/msgs.bin" "$SENDER" "$RCPT" "$HELO" <<'PY'
import asyncio, struct, sys, time
ip, port, src, sessions, path, sender, rcpt, helo = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), *sys.argv[5:]
data = open(path, "rb").read()
msgs, pos = [], 0
while pos < len(data):
    (n,) = struct.unpack(">I", data[pos:pos + 4])
    msgs.append(data[pos + 4:pos + 4 + n] + b".\r\n")
    pos += 4 + n
envelope = f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()
todo = iter(msgs)

async def reply(r):
    while True:
        line = await asyncio.wait_for(r.readline(), 120)
        if not line:
            raise ConnectionError("closed by the server")
        if line[3:4] != b"-":
            return int(line[:3]), line

async def expect(r, code, what):
    got, line = await reply(r)
    if got != code:
        raise RuntimeError(f"{what}: {line!r}")

async def session():
    r, w = await asyncio.open_connection(ip, port, local_addr=(src, 0), limit=1 << 20)
    await expect(r, 220, "greeting")
    w.write(f"EHLO {helo}\r\n".encode())
    lines = []
    while True:
        line = await asyncio.wait_for(r.readline(), 120)
        lines.append(line)
        if line[3:4] != b"-":
            break
    pipelining = any(l[4:].strip().upper() == b"PIPELINING" for l in lines)
    for m in todo:
        if pipelining:
            w.write(envelope)
            for code, what in ((250, "MAIL"), (250, "RCPT"), (354, "DATA")):
                await expect(r, code, what)
        else:
            for cmd, code in zip(envelope.split(b"\r\n"), (250, 250, 354)):
                w.write(cmd + b"\r\n")
                await expect(r, code, cmd.decode())
        w.write(m)
        await expect(r, 250, "end of data")
    w.write(b"QUIT\r\n")
    await reply(r)
    w.close()

async def main():
    t0, c0 = time.monotonic(), time.process_time()
    await asyncio.gather(*(session() for _ in range(sessions)))
    return time.monotonic() - t0, time.process_time() - c0

seconds, cpu = asyncio.run(main())
print(f"{seconds:.4f} {cpu:.3f}")
PY
}

# ---------------------------------------------------------------- runs
# run_est CHECKS: RATE (msg/s), CPU (estafeta's ms per message), QUESTIONS (to dns.py);
# dies unless what was stored is what CHECKS promises
est_all_in() { [ "$(est_count)" -ge "$MESSAGES" ]; }
run_est() {
    local checks=$1 seconds client stored with dkim spf dmarc
    start_estafeta "$checks"
    dns_questions >/dev/null
    sync   # the previous run's writes out of the way before this one starts
    read -r seconds client < <(send $EST_IP $EST_PORT)
    [ -n "$client" ] || die "the client failed (estafeta, checks $checks)"
    CPU=$(est_cpu_ms "$MESSAGES")
    wait_until est_all_in 5 "$MESSAGES messages in the mailbox" || true
    QUESTIONS=$(dns_questions)
    cp "$WORK/dns.stats" "$WORK/dns-checks-$checks.stats"
    est_stop
    cp "$WORK/est.log" "$WORK/est-checks-$checks.log"
    read -r stored with dkim spf dmarc < <(est_results)
    [ "$stored" -eq "$MESSAGES" ] || die "estafeta stored $stored of $MESSAGES messages (checks $checks)"
    if [ "$checks" = true ]; then
        [ "$with" -eq "$MESSAGES" ] && [ "$dkim" -eq "$MESSAGES" ] && [ "$dmarc" -eq "$MESSAGES" ] \
            && { [ "$SPF_FAIL" = ignore ] || [ "$spf" -eq "$MESSAGES" ]; } \
            || die "checks on: of $stored messages $with have our Authentication-Results, dkim=pass $dkim, spf=pass $spf, dmarc=pass $dmarc"
    else
        [ "$with" -eq 0 ] || die "checks off, yet $with messages have our Authentication-Results"
    fi
    say "estafeta, checks $checks: $stored stored; our Authentication-Results on $with: dkim=pass $dkim, spf=pass $spf, dmarc=pass $dmarc"
    RATE=$(python3 -c "print(f'{$MESSAGES / $seconds:.0f}')")
    CLIENT_CPU=$(python3 -c "print(f'{$client * 1000 / $MESSAGES:.3f}')")
}

# run_pf: RATE (msg/s accepted); waits until Postfix has delivered every message
pf_all_in() { [ "$(pf_count)" -ge "$MESSAGES" ]; }
run_pf() {
    local seconds client
    set_aside "$WORK/pf-mail/u"
    pf_start
    sync
    read -r seconds client < <(send $PF_IP $PF_PORT)
    [ -n "$client" ] || die "the client failed (postfix)"
    wait_until pf_all_in 300 "$MESSAGES messages in Postfix's Maildir"
    pf_stop
    RATE=$(python3 -c "print(f'{$MESSAGES / $seconds:.0f}')")
    CLIENT_CPU=$(python3 -c "print(f'{$client * 1000 / $MESSAGES:.3f}')")
}

mkdir -p "$WORK/pf-mail"
chown 65534:65534 "$WORK/pf-mail"
pf_setup <<CF
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $WORK/pf-mail
virtual_mailbox_maps = inline:{ u@bench.test=u/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
CF

ratio2() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
ON=(); OFF=(); PF=(); ON_CPU=(); OFF_CPU=(); ON_DNS=()
for round in $(seq 1 "$ROUNDS"); do
    run_est true;  ON+=("$RATE"); ON_CPU+=("$CPU"); ON_DNS+=("$QUESTIONS"); c1=$CLIENT_CPU
    run_est false; OFF+=("$RATE"); OFF_CPU+=("$CPU"); c2=$CLIENT_CPU
    run_pf;        PF+=("$RATE")
    say "round $round: checks on ${ON[-1]} msg/s (${ON_CPU[-1]} ms CPU/msg, ${ON_DNS[-1]} DNS questions), checks off ${OFF[-1]} msg/s (${OFF_CPU[-1]} ms CPU/msg), postfix ${PF[-1]} msg/s; $(ratio2 "${ON[-1]}" "${PF[-1]}") and $(ratio2 "${OFF[-1]}" "${PF[-1]}"); the client's CPU ms/msg: $c1, $c2, $CLIENT_CPU"
done

on=$(median "${ON[@]}"); off=$(median "${OFF[@]}"); pf=$(median "${PF[@]}")
on_cpu=$(median "${ON_CPU[@]}"); off_cpu=$(median "${OFF_CPU[@]}")
row 30 "accepted msg/s" "median" "/ postfix" "runs" "CPU ms/msg"
row 30 "estafeta, checks on" "$on" "$(ratio2 "$on" "$pf")" "$(IFS=,; echo "${ON[*]}")" "$on_cpu"
row 30 "estafeta, checks off" "$off" "$(ratio2 "$off" "$pf")" "$(IFS=,; echo "${OFF[*]}")" "$off_cpu"
row 30 "postfix, plain" "$pf" "1.0x" "$(IFS=,; echo "${PF[*]}")" ""
python3 -c "print(f'cost of the checks per message: {1000 / $on - 1000 / $off:.3f} ms of throughput (1/rate_on - 1/rate_off, medians), {$on_cpu - $off_cpu:.3f} ms of estafeta CPU')"
echo "DNS questions dns.py answered per run with checks on: ${ON_DNS[*]} (TTL $DNS_TTL s)"
echo "Authentication-Results of one message:"; sed 's/^/    /' "$WORK/ar-sample.txt"
echo "messages=$MESSAGES body=$SIZE sessions=$SESSIONS client=$CLIENT keys=$KEYS spf_fail=$SPF_FAIL rounds=$ROUNDS estafeta log $EST_LOG; machine: $(nproc) cores"
