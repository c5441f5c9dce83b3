#!/usr/bin/env bash
# 10,000 concurrent IMAP connections, each logged in, with INBOX selected and in IDLE:
# the server's resident memory (VmRSS) once all of them idle. Target: under 200 MiB.
#   bash bench/imap-idle.sh            (CONNECTIONS=… USERS=… to change the load)
set -euo pipefail
CONNECTIONS="${CONNECTIONS:-10000}"
USERS="${USERS:-100}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/estafeta-idle-bench.XXXXXX)"
IP=127.0.0.34; PORT=10146; SMTP=10034
EST_PID=""
cleanup() { [ -n "$EST_PID" ] && kill "$EST_PID" 2>/dev/null || true; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"   # the server and the client each hold one socket per connection

(cd "$ROOT" && cargo build --release -q)
EST="$ROOT/target/release/estafeta"
cat > "$WORK/est.toml" <<TOML
hostname = "estafeta.bench"
data_dir = "$WORK/est"
[log]
level = "warn"
[auth]
allow_plaintext_on_loopback = true
[imap]
max_connections = $((CONNECTIONS + 100))
max_connections_per_ip = $((CONNECTIONS + 100))
[[listener]]
address = "$IP"
port = $PORT
protocol = "imap"
tls = "none"
[[listener]]
address = "$IP"
port = $SMTP
protocol = "smtp"
tls = "none"
TOML
"$EST" -c "$WORK/est.toml" domain add bench.test >/dev/null
for i in $(seq 0 $((USERS - 1))); do
    echo secret | "$EST" -c "$WORK/est.toml" user add "u$i@bench.test" --password-stdin >/dev/null
done
MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-} ESTAFETA_LOG=warn "$EST" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
EST_PID=$!
python3 - "$IP" "$PORT" "$SMTP" "$USERS" <<'PY'
import smtplib, sys, time
ip, port, smtp, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for _ in range(200):
    try:
        s = smtplib.SMTP(ip, smtp); break
    except OSError:
        time.sleep(0.05)
for i in range(users):   # one message in every INBOX, so that SELECT has something to show
    s.sendmail("bench@example.org", [f"u{i}@bench.test"], b"Subject: hi\r\n\r\nhello\r\n")
s.quit()
PY
BASE_KB=$(awk '/VmRSS/ {print $2}' /proc/$EST_PID/status)
python3 - "$IP" "$PORT" "$CONNECTIONS" "$USERS" "$EST_PID" "$BASE_KB" <<'PY'
import asyncio, sys, time
ip, port, n, users, pid, base_kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])

async def until(r, tag):
    while True:
        line = await r.readline()
        if not line:
            raise SystemExit("connection closed")
        if line.startswith(tag):
            return line

async def idle(i, gate, held):
    async with gate:
        r, w = await asyncio.open_connection(ip, port)
        await r.readline()
        w.write(f"a LOGIN u{i % users}@bench.test secret\r\n".encode())
        if not (await until(r, b"a ")).startswith(b"a OK"):
            raise SystemExit("login refused")
        w.write(b"b SELECT INBOX\r\n")
        await until(r, b"b ")
        w.write(b"c IDLE\r\n")
        if not (await until(r, b"+")).startswith(b"+"):
            raise SystemExit("IDLE refused")
        held.append((r, w))

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

async def main():
    gate = asyncio.Semaphore(200)
    held = []
    t0 = time.time()
    await asyncio.gather(*(idle(i, gate, held) for i in range(n)))
    took = time.time() - t0
    time.sleep(1)  # let the server settle before reading its memory
    kb = rss_kb()
    print(f"estafeta: {len(held)} connections in IDLE (set up in {took:.1f} s)")
    print(f"estafeta: RSS {kb / 1024:.1f} MiB in all, {base_kb / 1024:.1f} MiB before, "
          f"{(kb - base_kb) / len(held):.1f} KiB per idle connection")
    for r, w in held:
        w.close()

asyncio.run(main())
PY
