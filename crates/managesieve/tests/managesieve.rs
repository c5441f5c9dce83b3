//! ManageSieve (RFC 5804) over real sockets: Debian's `sieve-connect` uploads, lists,
//! activates, downloads and deletes a script, and the script it activated files the
//! next message; a Python client speaks the protocol by hand for every refusal (bad
//! script with its line, oversize literal, the active script's deletion, names that
//! exist or do not, login before TLS, a wrong password) and checks the session goes on.
//!
//! Needs `sieve-connect` (apt; `.ci/run` installs it).

use std::process::Stdio;

use estafeta_config::{ListenerTls, Protocol};
use estafeta_testkit::{MailHost, python};
use tokio::io::AsyncWriteExt;

async fn host() -> MailHost {
    MailHost::two_ports_with(&[(Protocol::Managesieve, ListenerTls::Starttls)], |c| {
        c.sieve.max_script_size = 4096;
    })
    .await
}

/// Runs sieve-connect against `h` as bob with `args`; returns what it printed.
async fn sieve_connect(h: &MailHost, args: &[&str]) -> String {
    let addr = h.listeners[0];
    let mut child = tokio::process::Command::new("sieve-connect")
        .args([
            "--server",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
            "--user",
            "bob@example.com",
            "--passwordfd",
            "0",
            "--notlsverify",
            "--authmech",
            "PLAIN",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sieve-connect runs (apt install sieve-connect)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"secret\n").await.expect("password");
    drop(stdin);
    let out = child.wait_with_output().await.expect("sieve-connect ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sieve-connect {args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sieve_connect_manages_a_script_that_then_files_mail() {
    let h = host().await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("rules.sieve");
    let script = "require [\"fileinto\", \"mailbox\"];\r\nif address :is \"from\" \"boss@outside.test\" {\r\n  fileinto :create \"Work\";\r\n}\r\n";
    std::fs::write(&local, script).expect("write");
    let local = local.display().to_string();
    sieve_connect(
        &h,
        &["--upload", "--localsieve", &local, "--remotesieve", "rules"],
    )
    .await;
    let listed = sieve_connect(&h, &["--list"]).await;
    assert!(listed.contains("rules"), "{listed}");
    sieve_connect(&h, &["--activate", "--remotesieve", "rules"]).await;
    let listed = sieve_connect(&h, &["--list"]).await;
    assert!(listed.contains("\"rules\" ACTIVE"), "{listed}");
    let back = dir.path().join("back.sieve");
    sieve_connect(
        &h,
        &[
            "--download",
            "--remotesieve",
            "rules",
            "--localsieve",
            &back.display().to_string(),
        ],
    )
    .await;
    assert_eq!(std::fs::read_to_string(&back).expect("downloaded"), script);

    // the active script runs at delivery
    let body =
        "From: boss@outside.test\r\nTo: bob@example.com\r\nSubject: report\r\n\r\nDue Friday.\r\n";
    estafeta_net::testing::smtp_send(h.smtp, "boss@outside.test", "bob@example.com", body).await;
    let user = h.store.get_user("bob@example.com").await.unwrap().unwrap();
    let work = h
        .store
        .get_mailbox(user.id, "Work")
        .await
        .unwrap()
        .expect("Work was made by the script");
    assert_eq!(h.store.list_messages(work.id).await.unwrap().len(), 1);
    assert!(h.inbox("bob@example.com").await.is_empty());

    // the active one cannot be deleted; once deactivated it can
    sieve_connect(&h, &["--deactivate"]).await;
    sieve_connect(&h, &["--delete", "--remotesieve", "rules"]).await;
    let listed = sieve_connect(&h, &["--list"]).await;
    assert!(!listed.contains("rules"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_response_code_and_the_session_goes_on() {
    let h = host().await;
    let addr = h.listeners[0];
    python(&format!(
        r##"
import socket, ssl, base64, sys
def check(cond, *what):
    if not cond:
        print("FAILED:", *what, file=sys.stderr); sys.exit(1)
s = socket.create_connection(("{ip}", {port}))
f = s.makefile("rb")
def line():
    l = f.readline().decode()
    check(l.endswith("\r\n"), "line ending", repr(l))
    return l[:-2]
def until_done():
    lines = []
    while True:
        l = line()
        lines.append(l)
        if l.startswith(("OK", "NO", "BYE")):
            return lines
def cmd(text):
    s.sendall(text.encode() + b"\r\n")
    return until_done()
greeting = until_done()
check(greeting[-1].startswith("OK"), greeting)
caps = "\n".join(greeting)
check('"STARTTLS"' in caps and '"SIEVE" "fileinto' in caps and 'vacation' in caps, caps)
check('"SASL" ""' in caps, "no mechanism before TLS", caps)
plain = base64.b64encode(b"\0bob@example.com\0secret").decode()
r = cmd('AUTHENTICATE "PLAIN" "%s"' % plain)
check(r[-1].startswith("NO (ENCRYPT-NEEDED)"), r)
r = cmd("STARTTLS")
check(r[-1].startswith("OK"), r)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(s, server_hostname="mail.test")
f = s.makefile("rb")
caps = until_done()
check('"SASL" "PLAIN SCRAM-SHA-256' in "\n".join(caps), caps)
check(not any("STARTTLS" in c for c in caps), "no STARTTLS twice", caps)
r = cmd("LISTSCRIPTS")
check(r[-1].startswith("NO"), "log in first", r)
bad = base64.b64encode(b"\0bob@example.com\0wrong").decode()
r = cmd('AUTHENTICATE "PLAIN" "%s"' % bad)
check(r[-1].startswith("NO"), r)
# the response as a literal (RFC 5804 §2.1), after an empty challenge
s.sendall(b'AUTHENTICATE "PLAIN"\r\n')
challenge = line()
check(challenge == '""', challenge)
s.sendall(("{{%d+}}\r\n%s\r\n" % (len(plain), plain)).encode())
r = until_done()
check(r == ['OK "logged in"'], r)
def put(name, text):
    data = text.encode()
    s.sendall(('PUTSCRIPT "%s" {{%d+}}\r\n' % (name, len(data))).encode() + data + b"\r\n")
    return until_done()
r = put("broken", 'require "fileinto";\r\nif true {{\r\n  fileinot "x";\r\n}}\r\n')
check(r[-1].startswith("NO") and "line 3" in r[-1], "the compiler's line", r)
r = put("unknown", 'require "nosuchthing";\r\nkeep;\r\n')
check(r[-1].startswith("NO") and "nosuchthing" in r[-1], r)
r = put("one", "keep;\r\n")
check(r[-1].startswith("OK"), r)
r = put("two", 'require "fileinto";\r\nfileinto "Later";\r\n')
check(r[-1].startswith("OK"), r)
big = "#" * 5000 + "\r\nkeep;\r\n"
r = put("big", big)
check(r[-1].startswith("NO (QUOTA/MAXSIZE)"), r)
r = cmd("NOOP")
check(r[-1].startswith("OK"), "the session goes on after a refused literal", r)
r = cmd('HAVESPACE "big" 5000')
check(r[-1].startswith("NO (QUOTA/MAXSIZE)"), r)
r = cmd('HAVESPACE "small" 100')
check(r[-1].startswith("OK"), r)
r = cmd("LISTSCRIPTS")
check(r[:-1] == ['"one"', '"two"'] and r[-1].startswith("OK"), r)
r = cmd('SETACTIVE "two"')
check(r[-1].startswith("OK"), r)
r = cmd("LISTSCRIPTS")
check('"two" ACTIVE' in r, r)
r = cmd('SETACTIVE "nope"')
check(r[-1].startswith("NO (NONEXISTENT)"), r)
r = cmd('DELETESCRIPT "two"')
check(r[-1].startswith("NO (ACTIVE)"), r)
r = cmd('RENAMESCRIPT "one" "two"')
check(r[-1].startswith("NO (ALREADYEXISTS)"), r)
r = cmd('RENAMESCRIPT "one" "first"')
check(r[-1].startswith("OK"), r)
r = cmd('GETSCRIPT "one"')
check(r[-1].startswith("NO (NONEXISTENT)"), r)
r = cmd('GETSCRIPT "first"')
check(r[0] == "{{7}}" and r[1] == "keep;" and r[-1].startswith("OK"), r)
r = cmd('CHECKSCRIPT {{5+}}\r\nkeep;')
check(r[-1].startswith("OK"), r)
r = cmd('CHECKSCRIPT {{6+}}\r\nkeep;;')
check(r[-1].startswith("NO"), r)
r = cmd('DELETESCRIPT "first"')
check(r[-1].startswith("OK"), r)
for junk in ['FROB', 'GETSCRIPT', 'GETSCRIPT "a\x01b"', 'PUTSCRIPT "x" "unterminated', 'GETSCRIPT "' + "x" * 200 + '"']:
    r = cmd(junk)
    check(r[-1].startswith("NO"), junk, r)
r = cmd('NOOP "tag1"')
check(r[-1].startswith('OK (TAG "tag1")'), r)
r = cmd("LOGOUT")
check(r[-1].startswith("OK"), r)
"##,
        ip = addr.ip(),
        port = addr.port()
    ))
    .await;
    let user = h.store.get_user("bob@example.com").await.unwrap().unwrap();
    let left: Vec<String> = h
        .store
        .sieve_scripts(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(left, ["two"]);
}
