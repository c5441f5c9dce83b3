//! Mail moved in: a Dovecot Maildir++ tree with odd flags and keywords, and an mbox with
//! mboxrd escaping and Status:/X-Status: flags, imported with `estafeta import`; then
//! IMAP shows the same folders, messages, flags and dates. A second run adds nothing; the
//! progress bar is drawn on a terminal (a pseudo-terminal here) and not otherwise.

mod common;

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use common::{Env, Server, loopback_config};

fn put(path: &std::path::Path, text: &str, mtime: u64) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .expect("mtime");
}

#[test]
fn maildir_and_mbox_arrive_with_their_flags_and_dates() {
    let env = Env::new();
    let config = env.write_config(&format!(
        "{}[auth]\nallow_plaintext_on_loopback = true\n",
        loopback_config()
    ));
    let c = config.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    for user in ["bob", "ann"] {
        env.ok(
            &[
                "-c",
                c,
                "user",
                "add",
                &format!("{user}@example.com"),
                "--password-stdin",
            ],
            "pw\n",
        );
    }
    let md = env.dir.path().join("Maildir");
    std::fs::create_dir_all(md.join("tmp")).expect("tmp");
    std::fs::write(md.join("dovecot-keywords"), "0 $Important\n1 Work\n").expect("keywords");
    // each folder has its own keyword letters, as Dovecot keeps them
    std::fs::create_dir_all(md.join(".Archive.2024")).expect("dir");
    std::fs::write(md.join(".Archive.2024/dovecot-keywords"), "1 Work\n").expect("keywords");
    put(
        &md.join("cur/1700000000.M1P1.host,S=80:2,FRSa"),
        "Message-ID: <one@x.test>\nSubject: flagged\n\nfirst\n",
        1_700_000_000,
    );
    put(
        &md.join("new/1700000100.M2P1.host"),
        "Subject: no id, unread\n\nsecond\n",
        1_700_000_100,
    );
    put(
        &md.join(".Archive.2024/cur/1600000000.M3P1.host:2,Sb"),
        "Message-ID: <three@x.test>\nSubject: archived\n\nthird\n",
        1_600_000_000,
    );
    put(
        &md.join(".Sent/cur/1650000000.M4P1.host:2,S"),
        "Message-ID: <four@x.test>\nSubject: sent\n\nfourth\n",
        1_650_000_000,
    );
    let dir = md.to_str().expect("utf-8");
    let first = env.ok(
        &[
            "-c",
            c,
            "import",
            "maildir",
            dir,
            "--user",
            "bob@example.com",
        ],
        "",
    );
    assert_eq!(
        first,
        "4 imported, 0 already there, 0 failed, 0 too large\n"
    );
    let again = env.ok(
        &[
            "-c",
            c,
            "import",
            "maildir",
            dir,
            "--user",
            "bob@example.com",
        ],
        "",
    );
    assert_eq!(
        again, "0 imported, 4 already there, 0 failed, 0 too large\n",
        "a second run adds nothing"
    );
    let mbox = env.dir.path().join("old.mbox");
    std::fs::write(
        &mbox,
        "From a@b.test Mon Jan  1 10:00:00 2024\nMessage-ID: <m1@x.test>\nSubject: from mbox\nStatus: RO\nX-Status: AF\n\n>From the start\nbody\n\n\
         From c@d.test Tue Feb 27 23:59:59 2024\nSubject: second mbox\n\nx\n",
    )
    .expect("mbox");
    let m = mbox.to_str().expect("utf-8");
    let out = env.ok(
        &[
            "-c",
            c,
            "import",
            "mbox",
            m,
            "--user",
            "bob@example.com",
            "--folder",
            "Old/Mbox",
        ],
        "",
    );
    assert_eq!(out, "2 imported, 0 already there, 0 failed, 0 too large\n");
    // errors say what to do
    let out = env.run(
        &[
            "-c",
            c,
            "import",
            "maildir",
            dir,
            "--user",
            "nobody@example.com",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist: add it first"));
    let out = env.run(
        &["-c", c, "import", "maildir", m, "--user", "bob@example.com"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Maildir"));
    // on a terminal the progress is drawn (a pseudo-terminal through script(1))
    let shown = Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} -c {c} import maildir {dir} --user ann@example.com",
                common::BIN
            ),
            "/dev/null",
        ])
        .env("ESTAFETA_DATA_DIR", env.data_dir())
        .output()
        .expect("script");
    let drawn = String::from_utf8_lossy(&shown.stdout);
    assert!(drawn.contains("4 imported"), "{drawn}");
    assert!(
        drawn.contains("messages") && drawn.contains("left"),
        "a progress bar: {drawn:?}"
    );
    assert!(!first.contains("left"), "not drawn without a terminal");

    let server = Server::start(&env, &config);
    let imap = server.address("imap");
    let script = format!(
        r#"
import imaplib, sys
c = imaplib.IMAP4("{ip}", {port})
c.login("bob@example.com", "pw")
def check(cond, *what):
    if not cond: sys.exit(" ".join(str(w) for w in what))
typ, boxes = c.list()
names = [b.decode().rsplit(' "/" ', 1)[1].strip('"') for b in boxes]
for want in ["INBOX", "Archive/2024", "Sent", "Old/Mbox"]:
    check(want in names, want, names)
def fetch(box):
    c.select(box, readonly=True)
    typ, data = c.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
    out = []
    for part in data:
        if isinstance(part, tuple):
            meta = part[0].decode()
            # \Recent is this session's, not imported
            flags = tuple(f for f in imaplib.ParseFlags(part[0]) if f != b"\\Recent")
            out.append((flags, imaplib.Internaldate2tuple(part[0]), part[1]))
    return out
inbox = fetch("INBOX")
check(len(inbox) == 2, inbox)
flags, date, body = inbox[0]
check(set(flags) == {{b"\\Flagged", b"\\Answered", b"\\Seen", b"$Important"}}, flags)
check(body == b"Message-ID: <one@x.test>\r\nSubject: flagged\r\n\r\nfirst\r\n", body)
check(inbox[1][0] == (), inbox[1][0])
import time
check(int(time.mktime(inbox[0][1])) == 1700000000, inbox[0][1])
archive = fetch("Archive/2024")
check(set(archive[0][0]) == {{b"\\Seen", b"Work"}} and int(time.mktime(archive[0][1])) == 1600000000, archive)
old = fetch("Old/Mbox")
check(len(old) == 2, old)
check(set(old[0][0]) == {{b"\\Seen", b"\\Answered", b"\\Flagged"}}, old[0][0])
check(b"\r\nFrom the start\r\nbody\r\n" in old[0][2] and int(time.mktime(old[0][1])) == 1704103200, old[0])
c.logout()
"#,
        ip = imap.ip(),
        port = imap.port()
    );
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
}
