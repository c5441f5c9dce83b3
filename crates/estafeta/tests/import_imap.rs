//! `estafeta import imap`: a user's mail copied from another IMAP server (here another
//! estafeta, over a real socket with STARTTLS and without) into this one. The folders,
//! flags, keywords, dates and octets read back over IMAP from both are the same; a second
//! run downloads nothing new; wrong passwords and unchecked certificates are refused
//! with what to do.

mod common;

use std::process::Command;

use common::{Env, Server, loopback_config, serve_with_users};

fn python(script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every selectable folder's messages, as Python prints them: name, then per message its
/// flags (without \Recent), internal date and octets.
fn mailbox_dump(addr: std::net::SocketAddr, user: &str, password: &str) -> String {
    python(&format!(
        r#"
import imaplib, re
c = imaplib.IMAP4("{ip}", {port})
c.login("{user}", "{password}")
typ, boxes = c.list()
names = sorted(b.decode().rsplit(' "/" ', 1)[1].strip('"') for b in boxes)
for name in names:
    c.select('"%s"' % name, readonly=True)
    typ, data = c.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
    rows = []
    for part in data:
        if isinstance(part, tuple):
            flags = sorted(f.decode() for f in imaplib.ParseFlags(part[0]) if f != b"\\Recent")
            date = re.search(rb'INTERNALDATE "([^"]+)"', part[0]).group(1).decode()
            rows.append((flags, date, part[1]))
    print(name, len(rows))
    for row in sorted(rows, key=lambda r: r[2]):
        print(" ", row)
c.logout()
"#,
        ip = addr.ip(),
        port = addr.port()
    ))
}

#[test]
fn a_mailbox_is_copied_from_another_imap_server() {
    // the old server, with mail in several folders
    let old_env = Env::new();
    let old = serve_with_users(&old_env, "", &["bob@example.com"]);
    let old_imap = old.address("imap");
    python(&format!(
        r#"
import imaplib
c = imaplib.IMAP4("{ip}", {port})
c.login("bob@example.com", "secret")
c.create("Work/Projects")
def put(box, flags, date, text):
    typ, _ = c.append(box, flags, imaplib.Time2Internaldate(date), text.encode())
    assert typ == "OK", typ
put("INBOX", r"(\Seen \Flagged $Label1)", 1700000000, "Message-ID: <one@old.test>\r\nSubject: one\r\n\r\nfirst\r\n")
put("INBOX", "()", 1700000100, "Subject: no id\r\n\r\nsecond\r\n")
put("Work/Projects", r"(\Answered Work)", 1600000000, "Message-ID: <two@old.test>\r\nSubject: deep\r\n\r\nthird\r\n")
put("Sent", r"(\Seen)", 1650000000, "Message-ID: <three@old.test>\r\nSubject: sent\r\n\r\nfourth\r\n")
c.logout()
"#,
        ip = old_imap.ip(),
        port = old_imap.port()
    ));

    // the new one: bob exists, with a message of his own
    let env = Env::new();
    let config = env.write_config(&format!(
        "{}[auth]\nallow_plaintext_on_loopback = true\n",
        loopback_config()
    ));
    let c = config.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    env.ok(
        &[
            "-c",
            c,
            "user",
            "add",
            "bob@example.com",
            "--password-stdin",
        ],
        "new-secret\n",
    );
    let server = old_imap.to_string();
    let import = |extra: &[&str], password: &str| {
        let mut args = vec![
            "-c",
            c,
            "import",
            "imap",
            &server,
            "--login",
            "bob@example.com",
            "--user",
            "bob@example.com",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        env.run(&args, &format!("{password}\n"))
    };

    // refusals say what to do, and import nothing
    let out = import(&["--starttls"], "secret");
    let err = common::one_line_stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("TLS with 127.0.0.1 failed") && err.contains("--ca-file"),
        "an unchecked certificate is refused: {err}"
    );
    let out = import(&["--starttls", "--insecure"], "wrong");
    let err = common::one_line_stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("refused the login of bob@example.com") && err.contains("password"),
        "{err}"
    );

    // over STARTTLS (the old server's certificate is self-signed)
    let out = import(&["--starttls", "--insecure"], "secret");
    assert!(out.status.success(), "{}", common::one_line_stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "4 imported, 0 already there, 0 failed, 0 too large\n"
    );
    // again, in plaintext on loopback: nothing new
    let out = import(&["--plaintext"], "secret");
    assert!(out.status.success(), "{}", common::one_line_stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0 imported, 4 already there, 0 failed, 0 too large\n"
    );

    // both servers show the same folders, messages, flags and dates
    let new = Server::start(&env, &config);
    let before = mailbox_dump(old_imap, "bob@example.com", "secret");
    let after = mailbox_dump(new.address("imap"), "bob@example.com", "new-secret");
    assert_eq!(before, after);
    assert!(after.contains("Work/Projects 1"), "{after}");
    assert!(
        after.contains("'$Label1'") && after.contains("'Work'"),
        "{after}"
    );
    drop(old);
}
