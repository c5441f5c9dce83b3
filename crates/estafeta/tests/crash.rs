//! Crash test: clients send concurrently, the server is SIGKILLed mid-load and restarted;
//! every message that got "250" must be in its mailbox exactly once, and no message may
//! be there twice.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use common::{Env, Server, loopback_config, send_until_broken as client, stored_tokens};

const CLIENTS: usize = 8;
const KILL_AFTER: usize = 400;

#[test]
fn sigkill_under_load_loses_no_acknowledged_message() {
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
            std::thread::spawn(move || client(addr, id, tx))
        })
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(t) => acked.push(t),
            Err(e) => panic!("load stalled after {} messages: {e}", acked.len()),
        }
    }
    server.signal(libc::SIGKILL);
    server.child.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    // acknowledgements that were already on their way count too
    acked.extend(rx.try_iter());

    // restart: the server opens its data without repair
    let mut again = Server::start(&env, &config);
    again.signal(libc::SIGTERM);
    assert_eq!(again.child.wait().unwrap().code(), Some(0));

    let stored = stored_tokens(&env);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in &stored {
        *count.entry(t.as_str()).or_default() += 1;
    }
    for t in &acked {
        assert_eq!(
            count.get(t.as_str()),
            Some(&1),
            "acknowledged {t} must be stored exactly once"
        );
    }
    assert!(count.values().all(|&n| n == 1), "no message stored twice");
    // at most one unacknowledged message per client may have been committed
    assert!(
        stored.len() <= acked.len() + CLIENTS,
        "{} stored, {} acked",
        stored.len(),
        acked.len()
    );
    eprintln!("acknowledged {}, stored {}", acked.len(), stored.len());
}
