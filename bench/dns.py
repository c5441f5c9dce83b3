#!/usr/bin/env python3
"""A small authoritative DNS server for the benchmarks, on UDP only: it answers TXT and A
questions from a fixed table, NXDOMAIN for names it does not know and an empty answer
(NODATA) for a known name without records of the asked type; negative answers carry an
SOA whose minimum is the TTL, so that resolvers cache them too. Standard library only.

    bench/dns.py --listen 127.0.0.1:10053 --ttl 300 \\
        --txt sender.test 'v=spf1 ip4:127.0.0.1 -all' --a mx.sender.test 127.0.0.1 \\
        --json more-records.json

The JSON file is {"TXT": {"name": ["record", ...]}, "A": {"name": ["192.0.2.1", ...]}}.
A TXT record is given whole and sent as strings of at most 255 octets (RFC 1035
§3.3.14), as DKIM keys longer than that must be. Names match case-insensitively.

Bounded: one question per query, queries of at most 4096 octets, answers within the
client's UDP size (512 octets, or its EDNS size up to 1232), else the truncation bit and
no records; the table is read once; it stops after --lifetime seconds (3600) or at
SIGTERM/SIGINT. It counts the questions it answered by name and type: SIGUSR1 writes
the counts to --stats (one "COUNT TYPE NAME" line each) and starts them again from zero;
they are written there at exit as well. It prints "dns.py ready" on stderr once listening.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import time
from collections import Counter

TYPES = {1: "A", 16: "TXT", 6: "SOA", 41: "OPT"}
CODES = {name: code for code, name in TYPES.items()}
MAX_UDP = 1232  # the EDNS size DNS flag day 2020 recommends; more is never sent


def name_bytes(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise ValueError(f"label longer than 63 octets in {name!r}")
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def txt_rdata(text):
    raw = text.encode()
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def a_rdata(address):
    return socket.inet_aton(address)


def load_table(args):
    """{(lower-case name, type code): [rdata, ...]}"""
    table = {}

    def add(kind, name, value):
        rdata = txt_rdata(value) if kind == "TXT" else a_rdata(value)
        table.setdefault((name.strip(".").lower(), CODES[kind]), []).append(rdata)

    if args.json:
        with open(args.json) as f:
            data = json.load(f)
        for kind in ("TXT", "A"):
            for name, values in data.get(kind, {}).items():
                for value in [values] if isinstance(values, str) else values:
                    add(kind, name, value)
    for name, value in args.txt or []:
        add("TXT", name, value)
    for name, value in args.a or []:
        add("A", name, value)
    return table


def parse_query(data):
    """(id, flags, question name as sent, lower-case name, qtype, qclass, question octets,
    EDNS UDP size or None); raises ValueError on anything it does not take."""
    if len(data) < 12:
        raise ValueError("short header")
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", data[:12])
    if qd != 1:
        raise ValueError("not one question")
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            raise ValueError("name past the end")
        n = data[pos]
        if n & 0xC0:
            raise ValueError("compressed question name")
        pos += 1
        if n == 0:
            break
        labels.append(data[pos:pos + n])
        pos += n
        if pos > 12 + 255:
            raise ValueError("name too long")
    if pos + 4 > len(data):
        raise ValueError("question past the end")
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    question = data[12:pos + 4]
    pos += 4
    edns = None
    if an == 0 and ns == 0 and ar >= 1 and pos + 11 <= len(data) and data[pos] == 0:
        rtype, rclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        if rtype == CODES["OPT"]:
            edns = rclass
    name = b".".join(labels).decode("ascii", "replace").lower()
    return qid, flags, name, qtype, qclass, question, edns


def soa_record(name, ttl):
    """An SOA for negative answers, owned by the last two labels of the name."""
    zone = ".".join(name.split(".")[-2:])
    rdata = (name_bytes("ns." + zone) + name_bytes("hostmaster." + zone)
             + struct.pack("!5I", 1, 3600, 600, 86400, ttl))
    return name_bytes(zone) + struct.pack("!HHIH", CODES["SOA"], 1, ttl, len(rdata)) + rdata


def answer(table, data, ttl, counts):
    try:
        qid, flags, name, qtype, qclass, question, edns = parse_query(data)
    except ValueError:
        if len(data) < 2:
            return None
        return struct.pack("!6H", struct.unpack("!H", data[:2])[0], 0x8001, 0, 0, 0, 0)  # FORMERR
    opcode = flags & 0x7800
    rd = flags & 0x0100
    opt = struct.pack("!BHHIH", 0, CODES["OPT"], MAX_UDP, 0, 0) if edns is not None else b""
    limit = min(max(512, edns or 512), MAX_UDP)

    def reply(rcode, answers=(), authority=b"", aa=0x0400, tc=0):
        head = struct.pack("!6H", qid, 0x8000 | opcode | aa | tc | rd | rcode, 1,
                           len(answers), 1 if authority else 0, 1 if opt else 0)
        return head + question + b"".join(answers) + authority + opt

    if opcode != 0:
        return reply(4, aa=0)  # NOTIMP
    counts[(TYPES.get(qtype, str(qtype)), name)] += 1
    if qclass != 1:
        return reply(5, aa=0)  # REFUSED
    records = table.get((name, qtype))
    if records:
        answers = [struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(r)) + r for r in records]
        out = reply(0, answers)
        if len(out) > limit:
            out = reply(0, tc=0x0200)
        return out
    known = any(n == name for n, _ in table)
    return reply(0 if known else 3, authority=soa_record(name, ttl))


def write_stats(path, counts):
    """The counts, to path by way of a rename: a reader never sees half of them."""
    if not path:
        return
    with open(path + ".tmp", "w") as f:
        f.write(f"# {sum(counts.values())} questions\n")
        for (kind, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            f.write(f"{n} {kind} {name}\n")
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:10053", help="ADDRESS:PORT (UDP)")
    p.add_argument("--ttl", type=int, default=300, help="TTL of every answer, seconds")
    p.add_argument("--txt", nargs=2, action="append", metavar=("NAME", "TEXT"))
    p.add_argument("--a", nargs=2, action="append", metavar=("NAME", "ADDRESS"))
    p.add_argument("--json", help="a file of records (see above)")
    p.add_argument("--stats", help="where SIGUSR1 and the exit write the question counts")
    p.add_argument("--lifetime", type=float, default=3600, help="seconds before it stops by itself")
    args = p.parse_args()
    table = load_table(args)
    host, _, port = args.listen.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    sock.settimeout(0.5)
    counts = Counter()
    stop = []

    def dump(*_):
        write_stats(args.stats, counts)
        counts.clear()

    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGUSR1, dump)
    print(f"dns.py ready on {args.listen} (UDP), {len(table)} names and types", file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.lifetime
    while not stop and time.monotonic() < deadline:
        try:
            data, peer = sock.recvfrom(4096)
        except (socket.timeout, InterruptedError):
            continue
        out = answer(table, data, args.ttl, counts)
        if out is not None:
            try:
                sock.sendto(out, peer)
            except OSError:
                pass
    write_stats(args.stats, counts)


if __name__ == "__main__":
    main()
