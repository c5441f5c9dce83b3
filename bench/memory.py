#!/usr/bin/env python3
"""Driver for bench/memory.sh: SESSIONS concurrent SMTP sessions, each sending one
message of SIZE octets to one local user, streamed (the client never holds a message:
each session writes one shared 64 KiB block of lines over and over, after a header of
its own). All sessions first get to DATA's 354, then all stream at once. The server's
VmRSS is sampled every --sample-every seconds; at the end its VmHWM is read.
Loopback only; every wait has a timeout."""
import argparse
import asyncio
import collections
import csv
import os
import sys
import time

from benchlib import Smtp, close, connect, kib, proc_sample


def block():
    """64 KiB of 76-character lines (no leading dot, so no stuffing needed)."""
    line = b"The quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTU\r\n"
    assert len(line) == 78
    return line * (65536 // len(line))


BLOCK = block()


async def session(n, a, setup_gate, ready, go, results, phases):
    """Connects and gets to DATA's 354 (at most --connect-at-once sessions at a time in
    this phase), waits until every session is there, then streams its message."""
    s = None
    at_data = False
    head = (f"From: sender{n}@remote.test\r\nTo: {a.rcpt}\r\nSubject: memory bench {n}\r\n"
            f"Message-ID: <memory-{n}-{os.getpid()}@bench.test>\r\n\r\n").encode()
    try:
        async with setup_gate:
            s = Smtp(*await connect(a.ip, a.port, a.src, timeout=120))
            for line, want in [(None, 220), ("EHLO memory.bench", 250),
                               (f"MAIL FROM:<sender{n}@remote.test> SIZE={a.size}", 250),
                               (f"RCPT TO:<{a.rcpt}>", 250), ("DATA", 354)]:
                code, _ = await (s.reply(600) if line is None else s.cmd(line, 600))
                if code != want:
                    results[f"{(line or 'greeting').split()[0]}: {s.last[:60]}"] += 1
                    break
            else:
                at_data = True
                phases["at DATA"] += 1
    except (OSError, ConnectionError, asyncio.TimeoutError) as e:
        results[f"failed before DATA: {type(e).__name__} {e}"[:90]] += 1
    ready.release_one()
    if not at_data:
        if s is not None:
            close(s.w)
        return
    t0 = time.monotonic()
    replied = False
    try:
        await go.wait()
        w, left = s.w, a.size - len(head)
        w.write(head)
        while left > 0:
            chunk = BLOCK if left >= len(BLOCK) else (BLOCK[: left - left % 78] or b"x\r\n")
            w.write(chunk)
            left -= len(chunk)
            await asyncio.wait_for(w.drain(), 600)
        w.write(b".\r\n")
        await asyncio.wait_for(w.drain(), 600)
        phases["data sent"] += 1
        t_sent = time.monotonic()
        code, _ = await s.reply(a.reply_timeout)
        results["250" if code == 250 else f"end of data: {s.last[:70]}"] += 1
        replied = True
        phases["reply wait"] += time.monotonic() - t_sent
        await s.cmd("QUIT", 30)
    except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        if not replied:
            results[f"failed after DATA: {type(e).__name__} {e}"[:90]] += 1
    finally:
        s.w.close()
        phases["streaming seconds"] += time.monotonic() - t0


class Countdown:
    def __init__(self, n):
        self.n = n
        self.done = asyncio.Event()
        if n <= 0:
            self.done.set()

    def release_one(self):
        self.n -= 1
        if self.n <= 0:
            self.done.set()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--src", default=None)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sessions", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--rcpt", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--sample-every", type=float, default=0.5)
    ap.add_argument("--reply-timeout", type=float, default=1800)
    ap.add_argument("--connect-at-once", type=int, default=200)
    a = ap.parse_args()

    base = kib(a.pid, "VmRSS")
    samples = []
    stop = asyncio.Event()
    t0 = time.monotonic()

    async def sampler():
        with open(a.csv, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["seconds", "rss_kib", "threads", "fds"])
            while not stop.is_set():
                try:
                    rss, thr, fds = proc_sample(a.pid)
                except (OSError, KeyError):
                    print("memory: the server is gone", file=sys.stderr)
                    return
                t = time.monotonic() - t0
                samples.append((t, rss, thr, fds))
                out.writerow([f"{t:.1f}", rss, thr, fds])
                try:
                    await asyncio.wait_for(stop.wait(), a.sample_every)
                except asyncio.TimeoutError:
                    pass

    async def progress():
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 10)
            except asyncio.TimeoutError:
                if samples:
                    t, rss, thr, fds = samples[-1]
                    print(f"memory: {t:6.0f}s rss {rss / 1024:7.1f} MiB threads {thr} fds {fds} "
                          f"at DATA {phases['at DATA']} sent {phases['data sent']} replies {sum(results.values())}",
                          file=sys.stderr, flush=True)

    results = collections.Counter()
    phases = collections.Counter()
    ready = Countdown(a.sessions)
    go = asyncio.Event()
    sample_task = asyncio.ensure_future(sampler())
    progress_task = asyncio.ensure_future(progress())
    gate = asyncio.Semaphore(a.connect_at_once)
    tasks = [asyncio.ensure_future(session(n, a, gate, ready, go, results, phases)) for n in range(a.sessions)]
    await asyncio.wait_for(ready.done.wait(), 1800)
    t_data = time.monotonic()
    print(f"memory: {phases['at DATA']} of {a.sessions} sessions at DATA after {t_data - t0:.1f} s; streaming",
          file=sys.stderr, flush=True)
    go.set()
    await asyncio.gather(*tasks)
    t_end = time.monotonic()
    await asyncio.sleep(a.sample_every + 0.1)
    stop.set()
    await sample_task
    progress_task.cancel()
    hwm = kib(a.pid, "VmHWM")
    peak = max(samples, key=lambda s: s[1]) if samples else (0, 0, 0, 0)
    ok = results.get("250", 0)
    print(f"sessions: {a.sessions}, message size {a.size} octets ({a.size / 1e6:.0f} MB), "
          f"total {a.sessions * a.size / 1e9:.2f} GB")
    print(f"concurrent at DATA: {phases['at DATA']} (all waited at 354, then streamed together)")
    print(f"got 250: {ok} of {a.sessions}")
    for k, v in sorted(results.items()):
        if k != "250":
            print(f"  {v:5d}  {k}")
    print(f"time: {t_end - t0:.1f} s in all, {t_end - t_data:.1f} s from the start of streaming to the last reply "
          f"({ok * a.size / 1e6 / max(0.001, t_end - t_data):.0f} MB/s accepted)")
    if phases["data sent"]:
        print(f"mean wait for the reply after the final dot: {phases['reply wait'] / phases['data sent']:.2f} s")
    print(f"server RSS before: {base / 1024:.1f} MiB; peak sampled VmRSS: {peak[1] / 1024:.1f} MiB "
          f"at {peak[0]:.1f} s (threads {peak[2]}, fds {peak[3]}); VmHWM at the end: {hwm / 1024:.1f} MiB; "
          f"VmRSS at the end: {samples[-1][1] / 1024 if samples else 0:.1f} MiB")
    print(f"per session at the peak: {(peak[1] - base) / max(1, phases['at DATA']):.0f} KiB above the start")
    return 0 if ok == a.sessions else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
