#!/usr/bin/env bash
# 10,000 concurrent IMAP connections, each logged in, with INBOX selected and in IDLE:
# the server's resident memory (VmRSS) once all of them idle. Target: under 200 MiB.
#   bash bench/imap-idle.sh   (CONNECTIONS=… USERS=… to change the load; EST_BIN=… no build)
#   COMPRESS=1 bash bench/imap-idle.sh   each connection sends COMPRESS DEFLATE after LOGIN,
#                             then SELECT and IDLE compressed (RFC 4978; the client keeps no
#                             zlib state once IDLE is answered: only the server's is measured)
#   GATE=…                    connections being set up at once (200; a debug build, whose
#                             argon2 is slow, trips the failed-login throttle unless lower)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
knobs CONNECTIONS=10000 USERS=100 COMPRESS=0 GATE=200
WORK="$(mktemp -d /tmp/estafeta-idle-bench.XXXXXX)"
IP=127.0.0.34; PORT=10146; SMTP=10034
ulimit -n "$(ulimit -Hn)"   # the server and the client each hold one socket per connection

est_binary
est_toml estafeta.bench "$WORK/est" warn <<TOML
[auth]
allow_plaintext_on_loopback = true
[imap]
max_connections = $((CONNECTIONS + 100))
max_connections_per_ip = $((CONNECTIONS + 100))
$(listener $IP $PORT imap)
$(listener $IP $SMTP smtp)
TOML
est_users bench.test secret $(seq -f 'u%.0f' 0 $((USERS - 1)))
# ESTAFETA_LOG=warn hides the "ready" line: the client below waits for the SMTP port
MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-} est_serve "${EST_LOG:-warn}"
PYTHONPATH="$ROOT/bench" python3 - "$IP" "$PORT" "$SMTP" "$CONNECTIONS" "$USERS" "$EST_PID" "$COMPRESS" "$GATE" <<'PY'
import asyncio, smtplib, sys, time, zlib
from benchlib import Imap, kib
ip, port, smtp, n, users, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
compress, gate_size = sys.argv[7] == "1", int(sys.argv[8])
for _ in range(200):
    try:
        s = smtplib.SMTP(ip, smtp); break
    except OSError:
        time.sleep(0.05)
for i in range(users):   # one message in every INBOX, so that SELECT has something to show
    s.sendmail("bench@example.org", [f"u{i}@bench.test"], b"Subject: hi\r\n\r\nhello\r\n")
s.quit()
base_kb = kib(pid, "VmRSS")
Imap.ip = ip

async def idle(i, gate, held):
    async with gate:
        c = await Imap.open(port)
        if not (r := await c.cmd(f"LOGIN u{i % users}@bench.test secret"))[0].startswith(b"OK"):
            raise SystemExit(f"login refused: {r}")
        if compress:
            if not (await c.cmd("COMPRESS DEFLATE"))[0].startswith(b"OK"):
                raise SystemExit("COMPRESS refused")
            z, u = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
            c.w.write(z.compress(b"a SELECT INBOX\r\nb IDLE\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
            await c.w.drain()
            got = b"\n"
            while b"\n+ " not in got:
                data = await asyncio.wait_for(c.r.read(65536), 60)
                if not data:
                    raise SystemExit("closed before IDLE")
                got += u.decompress(data)
            held.append(c)
            return
        await c.cmd("SELECT INBOX")
        tag = await c.send("IDLE")
        while not (line := (await c.item())[0]).startswith(b"+"):
            if line.startswith(tag):
                raise SystemExit("IDLE refused")
        held.append(c)

async def main():
    gate = asyncio.Semaphore(gate_size)
    held = []
    t0 = time.time()
    await asyncio.gather(*(idle(i, gate, held) for i in range(n)))
    took = time.time() - t0
    time.sleep(1)  # let the server settle before reading its memory
    kb = kib(pid, "VmRSS")
    print(f"estafeta: {len(held)} connections in IDLE{' compressed' if compress else ''} (set up in {took:.1f} s)")
    print(f"estafeta: RSS {kb / 1024:.1f} MiB in all, {base_kb / 1024:.1f} MiB before, "
          f"{(kb - base_kb) / len(held):.1f} KiB per idle connection")
    for c in held:
        c.w.close()

asyncio.run(main())
PY
