//! Backup under load, then restore: clients send without pause while `estafeta backup`
//! runs; every message acknowledged before the backup began is in the restored store,
//! exactly once, and the restored server starts on it. A restore under a running server,
//! onto a damaged or foreign file, and a backup over an existing file are refused.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use common::{Env, Server, loopback_config, one_line_stderr, send_until_broken, stored_tokens};

const CLIENTS: usize = 4;
const BEFORE_BACKUP: usize = 300;

#[test]
fn a_backup_under_load_restores_every_message_acknowledged_before_it() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "pw\n",
    );
    let mut server = Server::start(&env, &config);
    let addr = server.address("smtp");
    let (tx, rx) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let tx = tx.clone();
            std::thread::spawn(move || send_until_broken(addr, id, tx))
        })
        .collect();
    drop(tx);
    let mut before = Vec::new();
    while before.len() < BEFORE_BACKUP {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(t) => before.push(t),
            Err(e) => panic!("load stalled after {} messages: {e}", before.len()),
        }
    }
    // the backup is taken while the clients go on sending
    let file = env.dir.path().join("backup.db");
    let f = file.to_str().expect("utf-8");
    let said = env.ok(&["-c", config.to_str().expect("utf-8"), "backup", f], "");
    let mut during = 0;
    while during < 50 {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(_) => during += 1,
            Err(e) => panic!("load stalled after the backup: {e}"),
        }
    }
    assert!(
        said.starts_with(&format!("backup written to {f}: 1 domain(s), 1 user(s), ")),
        "{said}"
    );
    // a second backup to the same name is refused, the first left whole
    let out = env.run(&["backup", f], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("already exists"), "{out:?}");
    // no restore under a running server
    let out = env.run(&["-c", config.to_str().expect("utf-8"), "restore", f], "");
    assert_eq!(out.status.code(), Some(1));
    let refusal = one_line_stderr(&out);
    assert!(
        refusal.contains("estafeta serve is running")
            && refusal.contains("stop it before restoring"),
        "{refusal}"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.child.wait().expect("wait").code(), Some(0));
    for c in clients {
        c.join().expect("client");
    }
    let after_stop = stored_tokens(&env).len();
    assert!(
        after_stop >= BEFORE_BACKUP + 50,
        "the live store kept what came after"
    );

    let restored = env.ok(&["-c", config.to_str().expect("utf-8"), "restore", f], "");
    assert!(
        restored.contains("restored") && restored.contains("before-restore-"),
        "{restored}"
    );
    let stored = stored_tokens(&env);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in &stored {
        *count.entry(t.as_str()).or_default() += 1;
    }
    for t in &before {
        assert_eq!(
            count.get(t.as_str()),
            Some(&1),
            "{t} acknowledged before the backup"
        );
    }
    assert!(count.values().all(|&n| n == 1), "no message twice");
    assert!(
        stored.len() < after_stop,
        "the backup is the store as it was, not as it is"
    );
    // the restored store serves
    let mut again = Server::start(&env, &config);
    again.signal(libc::SIGTERM);
    assert_eq!(again.child.wait().expect("wait").code(), Some(0));
    eprintln!(
        "acknowledged before the backup {}, in the backup {}, in the live store at stop {after_stop}",
        before.len(),
        stored.len()
    );
}

#[test]
fn damaged_or_foreign_backups_are_refused() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    let good = env.dir.path().join("good.db");
    env.ok(&["backup", good.to_str().expect("utf-8")], "");
    let db = env.data_dir().join("estafeta.db");
    let before = std::fs::read(&db).expect("db");
    // not a database at all
    let junk = env.dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database").expect("write");
    let out = env.run(&["restore", junk.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        one_line_stderr(&out).contains("not an estafeta database backup"),
        "{out:?}"
    );
    // a database, but not ours
    let foreign = env.dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).expect("sqlite");
    conn.execute_batch("CREATE TABLE t (x)").expect("table");
    drop(conn);
    let out = env.run(&["restore", foreign.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        one_line_stderr(&out).contains("not an estafeta database backup"),
        "{out:?}"
    );
    // a backup cut short
    let cut = env.dir.path().join("cut.db");
    let whole = std::fs::read(&good).expect("backup");
    std::fs::write(&cut, &whole[..whole.len() / 2]).expect("write");
    let out = env.run(&["restore", cut.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    let said = one_line_stderr(&out);
    assert!(
        said.contains("damaged") || said.contains("not an estafeta database"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&db).expect("db"),
        before,
        "the store untouched by refusals"
    );
    // a missing file
    let out = env.run(&["restore", "/nonexistent/backup.db"], "");
    assert_eq!(out.status.code(), Some(1));
    one_line_stderr(&out);
    // the good one goes in, and the domain is there
    env.ok(&["restore", good.to_str().expect("utf-8")], "");
    assert_eq!(env.ok(&["domain", "list"], ""), "example.com\n");
}
