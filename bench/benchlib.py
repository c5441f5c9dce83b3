"""What the Python drivers of bench/ share (soak.py, memory.py): the server's /proc
figures, and asyncio client connections with line I/O that has a timeout everywhere,
including an SMTP client. Standard library only; loopback only."""
import asyncio
import base64
import os
import re
import socket
import ssl
import struct
import time

IO_TIMEOUT = 180  # seconds any single read/write of an ordinary client may take
LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


def env(name, default):
    """An environment variable, or default when it is unset or empty (a script's knob
    given to argparse as a default: argparse converts it with the argument's type)."""
    return os.environ.get(name) or default


# ----------------------------------------------------------------------------- the server
def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def kib(pid, key):
    return int(proc_status(pid)[key].split()[0])


def proc_sample(pid):
    """(VmRSS in KiB, threads, open fds) of the process."""
    st = proc_status(pid)
    return int(st["VmRSS"].split()[0]), int(st["Threads"]), len(os.listdir(f"/proc/{pid}/fd"))


def server_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


# ----------------------------------------------------------------------------- I/O
def tls_context():
    """TLS without verification: the server's certificate is its own, made at start."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def connect(ip, port, src=None, tls=False, timeout=30):
    return await asyncio.wait_for(
        asyncio.open_connection(ip, port, ssl=tls_context() if tls else None, limit=1 << 24,
                                local_addr=(src, 0) if src else None,
                                server_hostname="soak.test" if tls else None,
                                ssl_handshake_timeout=30 if tls else None),
        timeout)


async def readline(r, timeout=IO_TIMEOUT):
    line = await asyncio.wait_for(r.readline(), timeout)
    if not line:
        raise ConnectionError("connection closed by server")
    return line


async def write(w, data, timeout=IO_TIMEOUT):
    w.write(data)
    await asyncio.wait_for(w.drain(), timeout)


def close(w, abort=False):
    try:
        if abort:
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.close()
    except Exception:
        pass


async def until_closed(r, timeout):
    """Reads and discards until the server closes; returns (closed, seconds, data seen)."""
    t = time.monotonic()
    seen = b""
    try:
        while True:
            chunk = await asyncio.wait_for(r.read(65536), max(0.01, timeout - (time.monotonic() - t)))
            if not chunk:
                return True, time.monotonic() - t, seen
            seen = (seen + chunk)[-2048:]
    except asyncio.TimeoutError:
        return False, time.monotonic() - t, seen
    except (ConnectionError, OSError, ssl.SSLError):
        return True, time.monotonic() - t, seen


# ----------------------------------------------------------------------------- sessions
class Session:
    """A client session on the server at Session.ip (set once by the driver): open()
    connects and reads the greeting, which must start with GREETING (else ConnectionError);
    quit() sends BYE and closes, whatever happens. Subclasses add cmd()."""
    ip = None
    GREETING = b"+OK"
    BYE = "QUIT"

    def __init__(self, r, w):
        self.r, self.w = r, w

    async def greeting(self):
        line = await readline(self.r)
        if not line.startswith(self.GREETING):
            raise ConnectionError(f"greeting {line[:100]!r}")

    @classmethod
    async def open(cls, port, src=None, tls=False):
        r, w = await connect(cls.ip, port, src, tls)
        s = cls(r, w)
        try:
            await s.greeting()
        except ConnectionError:
            close(w)
            raise
        return s

    async def quit(self):
        try:
            await self.cmd(self.BYE, timeout=10)
        except Exception:
            pass
        close(self.w)


class Smtp(Session):
    async def greeting(self):
        code, text = await self.reply()
        if code != 220:
            raise ConnectionError(f"greeting {code} {text}")

    async def reply(self, timeout=IO_TIMEOUT):
        """(code, the reply's lines joined by " | "); self.last is its last line."""
        lines = []
        while True:
            line = await readline(self.r, timeout)
            lines.append(line.rstrip(b"\r\n").decode(errors="replace"))
            if line[3:4] != b"-":
                break
        self.last = lines[-1]
        try:
            code = int(lines[-1][:3])
        except ValueError:
            code = 0
        return code, " | ".join(lines)

    async def cmd(self, line, timeout=IO_TIMEOUT):
        await write(self.w, line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n",
                    max(timeout, IO_TIMEOUT))
        return await self.reply(timeout)

    async def ehlo(self, name="client.soak.test"):
        code, text = await self.cmd(f"EHLO {name}")
        if code != 250:
            raise ConnectionError(f"EHLO {code} {text}")
        return text

    async def auth(self, user, password):
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return await self.cmd(f"AUTH PLAIN {cred}")


class Imap(Session):
    GREETING = b"* OK"
    BYE = "LOGOUT"

    def __init__(self, r, w):
        super().__init__(r, w)
        self.n = 0

    async def item(self, timeout=IO_TIMEOUT):
        """One response line with its literals: (text, [literals])."""
        line = await readline(self.r, timeout)
        text, lits = line, []
        while True:
            m = LITERAL.search(line)
            if not m:
                return text, lits
            lits.append(await asyncio.wait_for(self.r.readexactly(int(m.group(1))), timeout))
            line = await readline(self.r, timeout)
            text += line

    async def send(self, command):
        """Sends command under a new tag, and returns the tag."""
        self.n += 1
        tag = f"s{self.n}".encode()
        await write(self.w, tag + b" " + (command.encode() if isinstance(command, str) else command) + b"\r\n")
        return tag

    async def done(self, tag, timeout=IO_TIMEOUT):
        """Reads up to the tagged reply: (its status, the untagged items before it)."""
        items = []
        while True:
            text, lits = await self.item(timeout)
            if text.startswith(tag + b" "):
                return text[len(tag) + 1:].rstrip(b"\r\n"), items
            items.append((text, lits))

    async def cmd(self, command, timeout=IO_TIMEOUT):
        return await self.done(await self.send(command), timeout)


def raw_imap_session(ip, port, timeout=120):
    """A plaintext IMAP connection past its greeting, for timing with raw_imap."""
    s = socket.create_connection((ip, int(port)), timeout=timeout)
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(65536)
    return s


def raw_imap(s, tag, cmd):
    """Sends a command and reads until its tagged OK (no parsing: only a short tail is
    searched); exits naming the command on anything else."""
    s.sendall(f"{tag} {cmd}\r\n".encode())
    end = f"\r\n{tag} ".encode()
    chunks, tail = [], b"\r\n"
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit(f"connection closed during {cmd}")
        chunks.append(chunk)
        tail = (tail + chunk)[-4096:]
        at = tail.rfind(end)
        if at >= 0 and tail.endswith(b"\r\n") and tail.find(b"\r\n", at + 2) == len(tail) - 2:
            if not tail[at + 2:].startswith(f"{tag} OK".encode()):
                raise SystemExit(f"{cmd}: {tail[at + 2:]!r}")
            return b"".join(chunks)
