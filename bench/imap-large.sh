#!/usr/bin/env bash
# One large message read by many IMAP sessions at once: a message of SIZE_MB megabytes
# (10^6 octets) delivered over SMTP to one user of estafeta (release build, SQLite, its
# own temporary data directory), then SESSIONS concurrent sessions each FETCH 1
# BODY.PEEK[] at the same moment, each client reading the whole literal and checking its
# length. The server's anonymous RSS (RssAnon: its own memory, not the page cache that
# SQLite maps) is sampled every 0.1 s; the script prints the resident memory before, the
# peak during the fetches, the growth per session, and the time until every session had
# its message. A server that held the message whole per
# session would grow by at least SIZE_MB per session.
#   bash bench/imap-large.sh                      10 sessions x 24 MB
#   SESSIONS=20 SIZE_MB=10 bash bench/imap-large.sh
#   EST_BIN=/path/to/estafeta bash bench/imap-large.sh
set -euo pipefail
BENCH=imap-large; source "$(dirname "$0")/lib.sh"

knobs SESSIONS=10 SIZE_MB=24
IP=127.0.0.37; SMTP=10037; IMAP=10137
WORK="$(mktemp -d /tmp/estafeta-imap-large.XXXXXX)"
est_binary
est_toml estafeta.bench "$WORK/est" warn <<TOML
[auth]
allow_plaintext_on_loopback = true
[smtp]
trusted_networks = []
[trust]
checks = false
$(listener $IP $SMTP smtp)
$(listener $IP $IMAP imap)
TOML
est_users bench.test secret u
est_start info

python3 - "$IP" "$SMTP" "$IMAP" "$SESSIONS" "$SIZE_MB" "$EST_PID" <<'PY'
import asyncio, re, smtplib, sys, threading, time
ip, smtp, imap, sessions, size_mb, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
line = b"x" * 998 + b"\r\n"
body = b"From: s@bench.test\r\nSubject: large\r\n\r\n" + line * (size_mb * 1_000_000 // len(line))
with smtplib.SMTP(ip, smtp) as s:
    s.sendmail("s@bench.test", ["u@bench.test"], body)

def rss_kb():
    # the server's own memory (RssAnon): SQLite reads its file through a memory map, whose
    # pages are the kernel's page cache (RssFile), shared and not held per session
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))

async def session(start, ready):
    r, w = await asyncio.open_connection(ip, imap, limit=1 << 20)
    await r.readline()
    w.write(b"l LOGIN u@bench.test secret\r\ns SELECT INBOX\r\n")
    while not (await r.readline()).startswith(b"s OK"):
        pass
    ready.set_result(True)
    await start.wait()
    w.write(b"f FETCH 1 BODY.PEEK[]\r\n")
    head = await r.readline()
    n = int(re.search(rb"\{(\d+)\}\r\n$", head).group(1))
    got = 0
    while got < n:
        chunk = await r.read(min(1 << 20, n - got))
        if not chunk:
            raise SystemExit("closed during the literal")
        got += len(chunk)
    while not (await r.readline()).startswith(b"f OK"):
        pass
    w.close()
    return n

samples, stop = [], threading.Event()
def sampler():
    while not stop.is_set():
        samples.append(rss_kb())
        time.sleep(0.1)

async def main():
    start = asyncio.Event()
    ready = [asyncio.get_running_loop().create_future() for _ in range(sessions)]
    tasks = [asyncio.create_task(session(start, r)) for r in ready]
    await asyncio.gather(*ready)
    before = rss_kb()
    t = threading.Thread(target=sampler); t.start()
    t0 = time.perf_counter()
    start.set()
    sizes = await asyncio.gather(*tasks)
    took = time.perf_counter() - t0
    stop.set(); t.join()
    assert all(s >= size_mb * 1_000_000 * 0.99 for s in sizes), sizes
    peak = max(samples + [before])
    print(f"{sessions} sessions x FETCH BODY.PEEK[] of one {sizes[0] / 1e6:.1f} MB message: "
          f"all done in {took:.2f} s ({sessions * sizes[0] / took / 1e6:.0f} MB/s)")
    print(f"server anonymous RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
          f"growth {(peak - before) / 1024 / sessions:.2f} MiB per session "
          f"(the message is {sizes[0] / 1048576:.1f} MiB)")
asyncio.run(main())
PY
