//! Hostile input against the real `estafeta serve` over real sockets: messages built to
//! break every walk over a message (deep MIME nesting, a report nesting message/rfc822
//! 100,000 times, 100,000 report blocks, 1 MB header lines), then every FETCH item, SEARCH
//! and POP3 RETR on them. After each case the server must still answer on every port, and
//! at the end every message it acknowledged must be in the mailbox.

mod common;

use common::{Env, Server};

fn config() -> String {
    let mut s = String::from(
        "hostname = \"mail.test\"\n[smtp]\ntrusted_networks = []\n\
         [auth]\nallow_plaintext_on_loopback = true\n\
         [trust]\nchecks = false\n",
    );
    for protocol in ["smtp", "imap", "pop3"] {
        s.push_str(&format!(
            "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"{protocol}\"\ntls = \"starttls\"\n"
        ));
    }
    s
}

/// Python that defines helpers bound to the server's ports: `send(sender, body)` sends one
/// message to bob over SMTP and returns the final reply; `alive()` checks every port.
fn prelude(server: &Server) -> String {
    let smtp = server.address("smtp");
    let imap = server.address("imap");
    let pop3 = server.address("pop3");
    format!(
        r#"
import imaplib, poplib, smtplib, socket, sys
SMTP = ("{sip}", {sport}); IMAP = ("{iip}", {iport}); POP3 = ("{pip}", {pport})

def send(sender, body):
    s = smtplib.SMTP(*SMTP, timeout=60)
    s.ehlo("client.test")
    s.mail(sender)
    code, _ = s.rcpt("bob@example.com")
    assert code == 250, code
    code, reply = s.data(body)
    s.quit()
    return code, reply

def alive():
    s = smtplib.SMTP(*SMTP, timeout=10); assert s.noop()[0] == 250; s.quit()
    i = imaplib.IMAP4(*IMAP, timeout=10); assert i.noop()[0] == "OK"; i.logout()
    p = poplib.POP3(*POP3, timeout=10); assert p.getwelcome().startswith(b"+OK"); p.quit()

def imap():
    i = imaplib.IMAP4(*IMAP, timeout=60)
    i.login("bob@example.com", "secret")
    return i
"#,
        sip = smtp.ip(),
        sport = smtp.port(),
        iip = imap.ip(),
        iport = imap.port(),
        pip = pop3.ip(),
        pport = pop3.port(),
    )
}

fn python(script: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hostile_messages_do_not_take_the_server_down() {
    let env = Env::new();
    let config = env.write_config(&config());
    let server = Server::start(&env, &config);
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "secret\n",
    );
    let script = format!(
        r#"{prelude}
acked = []
import time
def deliver(name, sender, body):
    t = time.time()
    code, reply = send(sender, body)
    print(name, code, reply.decode(errors="replace")[:60], "%.1fs" % (time.time() - t), file=sys.stderr)
    print(name, code, reply.decode(errors="replace")[:60])
    if code == 250:
        acked.append(name)
    alive()

deliver("ordinary", "alice@remote.test", "Subject: ordinary\r\n\r\nhello\r\n")

# 20,000 levels of multipart/mixed (about 1 MB)
deep = ("Subject: deep multipart\r\n"
        + "".join('Content-Type: multipart/mixed; boundary="=%d"\r\n\r\n--=%d\r\n' % (i, i) for i in range(20000))
        + "Content-Type: text/plain\r\n\r\nneedle-in-the-deep\r\n")
deliver("deep-multipart", "alice@remote.test", deep)

# a report with the null sender nesting message/rfc822 100,000 times
nested = ('Subject: nested report\r\nContent-Type: multipart/report; report-type=delivery-status; '
          'boundary="r"\r\n\r\n--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: bob@example.com\r\n')
nested += "Content-Type: message/rfc822\r\n\r\n" * 100000
nested += "\r\n--r--\r\n"
deliver("nested-report", "<>", nested)

# a report with 100,000 recipient blocks
blocks = ('Subject: many blocks\r\nContent-Type: multipart/report; report-type=delivery-status; '
          'boundary="r"\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n')
blocks += "".join("\r\nFinal-Recipient: rfc822; u%d@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\n" % n
                  for n in range(100000))
blocks += ("--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: bob@example.com\r\n--r--\r\n")
deliver("many-blocks", "<>", blocks)

# 8-bit and invalid UTF-8 in every header
deliver("eight-bit", "alice@remote.test",
        b"Subject: \xff\xfe\xc3\x28 caf\xc3\xa9\r\nFrom: \x80\x81 <a@\xff.test>\r\n"
        b"Content-Type: text/plain; charset=\xff\r\nContent-Transfer-Encoding: \xfe\r\n\r\n\xff\xfe\r\n")

print("acked", acked)

# every structure item on every message, twice (the second time from the cached summary)
i = imap()
typ, data = i.select("INBOX")
count = int(data[0])
assert count == len(acked), (count, acked)
for _ in range(2):
    typ, data = i.fetch("1:*", "(ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE)")
    assert typ == "OK", data
for seq in range(1, count + 1):
    for item in ("BODY.PEEK[1]", "BODY.PEEK[1.1.1.1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[1.1.HEADER]",
                 "BODY.PEEK[TEXT]", "BINARY.PEEK[1]", "BINARY.SIZE[1.1]"):
        typ, data = i.fetch(str(seq), "(%s)" % item)
        assert typ in ("OK", "NO"), (seq, item, typ, data)
typ, data = i.search(None, "BODY", "needle-in-the-deep")
assert typ == "OK", data
print("search", data)
typ, data = i.search(None, "TEXT", "nothing-like-this")
assert typ == "OK" and data == [b""], data
i.logout()

# POP3 reads every message whole
p = poplib.POP3(*POP3, timeout=60)
p.user("bob@example.com"); p.pass_("secret")
n, _ = p.stat()
assert n == count, (n, count)
for k in range(1, n + 1):
    p.retr(k)
p.quit()
alive()
print("done")
"#,
        prelude = prelude(&server)
    );
    let out = python(&script);
    assert!(out.contains("ordinary 250"), "{out}");
    assert!(out.contains("deep-multipart 250"), "{out}");
    assert!(out.contains("nested-report 250"), "{out}");
    assert!(out.contains("many-blocks 250"), "{out}");
    // the deepest text is beyond the bound of 100 levels: SEARCH BODY does not reach it
    // (its part is opaque), TEXT would; the search answered either way
    assert!(out.contains("search [b''"), "{out}");
    assert!(out.ends_with("done\n"), "{out}");
}

/// A stop is bounded: sessions stalled mid-DATA, mid-literal and mid-handshake do not
/// hold the process past its deadline, and what was acknowledged before is there after a
/// restart.
#[test]
fn sigterm_stops_within_the_deadline_whatever_the_sessions_do() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let env = Env::new();
    let mut text = config();
    text.push_str(
        "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"submission\"\ntls = \"implicit\"\n",
    );
    let config = env.write_config(&text);
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "secret\n",
    );
    let mut server = Server::start(&env, &config);
    let acked = python(&format!(
        "{}\nprint(send('alice@remote.test', 'Subject: before the stop\\r\\n\\r\\nkept\\r\\n'))",
        prelude(&server)
    ));
    assert!(acked.contains("250"), "{acked}");

    let read_some = |s: &mut TcpStream| {
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // SMTP stalled in the middle of a message
    let mut smtp = TcpStream::connect(server.address("smtp")).expect("smtp");
    read_some(&mut smtp);
    smtp.write_all(b"EHLO c.test\r\n").expect("ehlo");
    read_some(&mut smtp);
    smtp.write_all(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        .expect("envelope");
    let mut seen = String::new();
    while !seen.contains("354") {
        seen.push_str(&read_some(&mut smtp));
    }
    smtp.write_all(b"Subject: never finished\r\n\r\nhalf a mess")
        .expect("data");
    // IMAP stalled in the middle of a literal
    let mut imap = TcpStream::connect(server.address("imap")).expect("imap");
    read_some(&mut imap);
    imap.write_all(b"a LOGIN bob@example.com secret\r\nb APPEND INBOX {100}\r\n")
        .expect("append");
    let mut seen = String::new();
    while !seen.contains("+ ") {
        seen.push_str(&read_some(&mut imap));
    }
    imap.write_all(b"From: x").expect("literal");
    // a TLS handshake that never starts
    let _tls = TcpStream::connect(server.address("submission")).expect("submission");

    let asked = Instant::now();
    server.signal(libc::SIGTERM);
    let pid = server.child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut child = std::mem::replace(
        &mut server.child,
        std::process::Command::new("true").spawn().expect("true"),
    );
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("estafeta (pid {pid}) still running 15 s after SIGTERM"));
    assert!(status.is_ok());
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "{:?}",
        asked.elapsed()
    );

    let again = Server::start(&env, &config);
    let out = python(&format!(
        "{}\np = poplib.POP3(*POP3, timeout=30)\np.user('bob@example.com'); p.pass_('secret')\n\
         print('messages', p.stat()[0])\nprint(b'\\n'.join(p.retr(1)[1]).decode())\np.quit()",
        prelude(&again)
    ));
    assert!(out.contains("messages 1\n"), "{out}");
    assert!(out.contains("Subject: before the stop"), "{out}");
}

/// Limits come before work: on an implicit-TLS port, a connection over the per-IP limit
/// and one beyond the handshakes in progress are closed at once, without a handshake,
/// while those admitted wait in theirs; a plaintext port says why in its own words.
#[test]
fn connections_are_counted_before_the_tls_handshake() {
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;

    /// Whether the server closed the socket without a word within 10 s.
    fn closed_at_once(s: &mut TcpStream) -> bool {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Ok(0))
            || matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }
    /// Whether the socket is still open and silent (a handshake waiting for its hello).
    fn waiting(s: &mut TcpStream) -> bool {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
    }

    let env = Env::new();
    let mut text = config().replace(
        "[smtp]\ntrusted_networks = []\n",
        "[smtp]\ntrusted_networks = []\nmax_connections_per_ip = 2\n",
    );
    text.push_str(
        "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"submission\"\ntls = \"implicit\"\n",
    );
    let config_path = env.write_config(&text);
    let server = Server::start(&env, &config_path);
    let tls = server.address("submission");
    let mut first = TcpStream::connect(tls).expect("first");
    let mut second = TcpStream::connect(tls).expect("second");
    assert!(waiting(&mut first) && waiting(&mut second));
    let mut third = TcpStream::connect(tls).expect("third");
    assert!(
        closed_at_once(&mut third),
        "over the per-IP limit, before any handshake"
    );
    // the plaintext SMTP port shares the limit and says so
    let mut plain = TcpStream::connect(server.address("smtp")).expect("plain");
    let mut reply = String::new();
    plain
        .read_to_string(&mut reply)
        .expect("the refusal and the close");
    assert!(
        reply.starts_with("421 4.7.0 mail.test Error: too many connections from your address"),
        "{reply}"
    );
    drop(server);

    // handshakes in progress are capped whatever the per-IP limit
    let env = Env::new();
    let text = text.replace(
        "max_connections_per_ip = 2",
        "max_connections_per_ip = 1000\nmax_connections = 1000",
    );
    let config_path = env.write_config(&text);
    let server = Server::start(&env, &config_path);
    let tls = server.address("submission");
    let mut held: Vec<TcpStream> = (0..estafeta_net::MAX_TLS_HANDSHAKES)
        .map(|_| TcpStream::connect(tls).expect("connect"))
        .collect();
    let last = held.len() - 1;
    assert!(
        waiting(&mut held[0]) && waiting(&mut held[last]),
        "they wait in their handshakes"
    );
    let mut beyond = TcpStream::connect(tls).expect("beyond");
    assert!(closed_at_once(&mut beyond), "no handshake place left");
    // once places come free, handshakes start again
    held.truncate(10);
    let out = python(&format!(
        "import smtplib, ssl, time\nctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
         for attempt in range(50):\n    try:\n        s = smtplib.SMTP_SSL('{ip}', {port}, context=ctx, timeout=10); print(s.ehlo()[0]); s.quit(); break\n    except (ConnectionError, ssl.SSLError, smtplib.SMTPServerDisconnected):\n        time.sleep(0.1)\n",
        ip = tls.ip(),
        port = tls.port()
    ));
    assert!(out.starts_with("250"), "{out}");
}
