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

/// Each folder's messages of an exported Maildir as (folder, flags part of the name,
/// modification time, content), sorted: what must survive export and import again.
fn maildir_tree(root: &std::path::Path) -> Vec<(String, String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let folder = match name.as_str() {
            "cur" => "INBOX".to_string(),
            n if n.starts_with('.') => n.to_string(),
            _ => continue,
        };
        let cur = if name == "cur" {
            entry.path()
        } else {
            entry.path().join("cur")
        };
        let keywords =
            std::fs::read_to_string(cur.parent().expect("folder").join("dovecot-keywords"))
                .unwrap_or_default();
        for file in std::fs::read_dir(&cur).expect("cur").flatten() {
            let fname = file.file_name().to_string_lossy().into_owned();
            let info = fname
                .rsplit_once(":2,")
                .map(|(_, i)| i.to_string())
                .unwrap_or_default();
            // keyword letters as their words, since letters are per export
            let words: Vec<String> = info
                .chars()
                .map(|c| match c {
                    'a'..='z' => keywords
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{} ", c as u8 - b'a')))
                        .unwrap_or("?")
                        .to_string(),
                    other => other.to_string(),
                })
                .collect();
            let mtime = file
                .metadata()
                .expect("meta")
                .modified()
                .expect("mtime")
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            out.push((
                folder.clone(),
                words.join(","),
                mtime,
                std::fs::read(file.path()).expect("read"),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn export_then_import_keeps_folders_flags_dates_and_content() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
    let c = config.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    for user in ["bob", "carol"] {
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
    std::fs::write(md.join("dovecot-keywords"), "0 $Important\n").expect("keywords");
    put(
        &md.join("cur/1700000000.M1P1.host:2,FRSa"),
        "Message-ID: <one@x.test>\nSubject: one\n\nFrom the start\n",
        1_700_000_000,
    );
    put(
        &md.join("cur/1700000001.M2P1.host:2,"),
        "Subject: two\n\nx\n",
        1_700_000_001,
    );
    put(
        &md.join(".Projects.2024/cur/1600000000.M3P1.host:2,DT"),
        "Message-ID: <three@x.test>\n\nthree\n",
        1_600_000_000,
    );
    env.ok(
        &[
            "-c",
            c,
            "import",
            "maildir",
            md.to_str().expect("utf-8"),
            "--user",
            "bob@example.com",
        ],
        "",
    );
    let out1 = env.dir.path().join("export1");
    let said = env.ok(
        &[
            "-c",
            c,
            "export",
            "bob@example.com",
            "--maildir",
            out1.to_str().expect("utf-8"),
        ],
        "",
    );
    assert!(
        said.starts_with("3 message(s) in 8 folder(s) written to "),
        "{said}"
    );
    // into another user, and out again: the same tree
    env.ok(
        &[
            "-c",
            c,
            "import",
            "maildir",
            out1.to_str().expect("utf-8"),
            "--user",
            "carol@example.com",
        ],
        "",
    );
    let out2 = env.dir.path().join("export2");
    env.ok(
        &[
            "-c",
            c,
            "export",
            "carol@example.com",
            "--maildir",
            out2.to_str().expect("utf-8"),
        ],
        "",
    );
    let (first, second) = (maildir_tree(&out1), maildir_tree(&out2));
    assert_eq!(first.len(), 3);
    assert_eq!(first, second);
    assert!(
        first.iter().any(|(f, flags, t, body)| f == ".Projects.2024"
            && flags == "D,T"
            && *t == 1_600_000_000
            && body == b"Message-ID: <three@x.test>\n\nthree\n"),
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .any(|(_, flags, _, _)| flags == "F,R,S,$Important"),
        "{first:?}"
    );
    // mbox: the same messages, From_ escaped, back in through import mbox
    let mbox_dir = env.dir.path().join("mboxes");
    env.ok(
        &[
            "-c",
            c,
            "export",
            "bob@example.com",
            "--mbox",
            mbox_dir.to_str().expect("utf-8"),
        ],
        "",
    );
    let inbox = std::fs::read_to_string(mbox_dir.join("INBOX.mbox")).expect("mbox");
    assert!(
        inbox
            .starts_with("From MAILER-DAEMON Tue Nov 14 22:13:20 2023\nStatus: RO\nX-Status: AF\n"),
        "{inbox}"
    );
    assert!(inbox.contains("\n>From the start\n"), "{inbox}");
    let back = env.ok(
        &[
            "-c",
            c,
            "import",
            "mbox",
            mbox_dir.join("INBOX.mbox").to_str().expect("utf-8"),
            "--user",
            "carol@example.com",
            "--folder",
            "FromMbox",
        ],
        "",
    );
    assert_eq!(back, "2 imported, 0 already there, 0 failed, 0 too large\n");
    // a target that is not empty is refused
    let out = env.run(
        &[
            "-c",
            c,
            "export",
            "bob@example.com",
            "--maildir",
            out1.to_str().expect("utf-8"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
}

/// An import larger than one write batch, into a quota that holds only part of it: what
/// fits is kept (a refused batch is retried one message at a time), each message that
/// does not fit is counted as failed with exit status 1, a message twice in the file is
/// imported once; after the quota is raised, a second run adds exactly the rest.
#[test]
fn a_partial_import_over_quota_keeps_what_fits_and_resumes() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
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
            "--quota",
            "300000",
        ],
        "pw\n",
    );
    // 450 messages of exactly 1,000 octets once stored (CRLF), then the first again
    let mut mbox = String::new();
    let one = |i: usize| {
        let head = format!("Message-ID: <{i}@bulk.test>\nSubject: number {i:03}\n\n");
        // the body pads the message to 1,000 octets: the head's three line ends become
        // CRLF (+3) and the body's line takes CRLF (+2)
        let pad = 1000 - head.len() - 5;
        format!(
            "From a@b.test Mon Jan  1 10:00:00 2024\n{head}{}\n",
            "x".repeat(pad)
        )
    };
    for i in 0..450 {
        mbox.push_str(&one(i));
    }
    mbox.push_str(&one(0));
    let file = env.dir.path().join("bulk.mbox");
    std::fs::write(&file, mbox).expect("mbox");
    let f = file.to_str().expect("utf-8");
    let args = ["-c", c, "import", "mbox", f, "--user", "bob@example.com"];
    let out = env.run(&args, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout, "300 imported, 1 already there, 150 failed, 0 too large\n",
        "{stderr}"
    );
    assert_eq!(stderr.matches("quota exceeded").count(), 150, "{stderr}");
    assert!(
        stderr.contains("150 message(s) could not be imported"),
        "{stderr}"
    );
    env.ok(
        &["-c", c, "user", "set", "bob@example.com", "--quota", "0"],
        "",
    );
    let again = env.ok(&args, "");
    assert_eq!(
        again,
        "150 imported, 301 already there, 0 failed, 0 too large\n"
    );
    let listed = env.ok(&["-c", c, "user", "list", "example.com"], "");
    assert!(listed.contains("bob@example.com"), "{listed}");
}
