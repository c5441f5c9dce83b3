//! The Python COMPRESS=DEFLATE client of `compress.rs` and `compress_bomb.rs`.

/// The client the scripts use: plaintext reads until COMPRESS's OK, raw DEFLATE with a
/// sync flush per command after it.
const CLIENT: &str = r#"
import socket, ssl, smtplib, zlib, sys

class C:
    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""
        self.raw = b""
        self.z = None
        self.unz = None
        self.wire_in = 0
        self.plain_in = 0

    def compress(self):
        self.z = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.unz = zlib.decompressobj(-15)
        # anything after the OK line was already compressed
        self.buf, rest = b"", self.buf
        self.feed(rest)

    def feed(self, data):
        if self.unz is None:
            self.buf += data
        else:
            self.wire_in += len(data)
            out = self.unz.decompress(data)
            self.plain_in += len(out)
            self.buf += out

    def send_raw(self, data):
        if self.z is not None:
            data = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def send(self, line):
        self.send_raw(line.encode() + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("closed; buffered: %r" % self.buf)
            self.feed(data)
        l, self.buf = self.buf.split(b"\n", 1)
        return l.decode("utf-8", "replace") + "\n"

    def tagged(self, tag):
        out = ""
        while True:
            l = self.line()
            out += l
            if l.startswith(tag + " "):
                return out

    def run(self, tag, command):
        self.send(tag + " " + command)
        return self.tagged(tag)

    def closed(self):
        # true when the server closes the connection (reads until EOF)
        try:
            while self.s.recv(65536):
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

def expect(cond, what):
    if not cond:
        print("FAILED: " + what)
        sys.exit(1)
"#;

pub async fn script(body: &str) -> String {
    let out = estafeta_testkit::python(&format!("{CLIENT}\n{body}\nprint('done')\n")).await;
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.trim_end().ends_with("done"), "{out}");
    out
}
