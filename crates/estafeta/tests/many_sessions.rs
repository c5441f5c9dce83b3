//! Many sessions on one mailbox, IMAP and POP3 mixed, with mail arriving over SMTP, on
//! `estafeta serve` over SQLite and over PostgreSQL: every IMAP session's view, built
//! from nothing but the responses it was sent (in order), stays consistent, as
//! imaptest's stress checks demand; keywords a session owns are never seen changed by
//! anyone else; POP3 sessions see each message with the content it arrived with; at the
//! end every session agrees with a fresh one, and no message is there twice.
//!
//! The Python script (`many_sessions.py` beside this file) does the work: a raw IMAP
//! client that keeps its response lines in order (imaplib groups them by kind, which
//! loses the order a view depends on), poplib and smtplib.

mod common;

use common::Env;

fn run(storage: &str) {
    let env = Env::new();
    let server = common::serve_with_users(&env, storage, &["bob@example.com"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/many_sessions.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(server.address("smtp").to_string())
        .arg(server.address("imap").to_string())
        .arg(server.address("pop3").to_string())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("consistent:"), "{stdout}");
}

#[test]
fn imap_and_pop3_sessions_on_one_mailbox_sqlite() {
    run("");
}

#[test]
fn imap_and_pop3_sessions_on_one_mailbox_postgres() {
    if let Some(db) = common::PgDatabase::create("estafeta_many_sessions") {
        run(&db.storage_config());
    }
}
