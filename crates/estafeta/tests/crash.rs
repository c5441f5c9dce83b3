//! Crash test: clients send concurrently, the server is SIGKILLed mid-load and restarted;
//! every message that got "250" must be in its mailbox exactly once, and no message may
//! be there twice.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::{Env, Server, loopback_config};

const CLIENTS: usize = 8;
const KILL_AFTER: usize = 400;

/// Sends messages until the connection breaks; reports each acknowledged token.
fn client(addr: SocketAddr, id: usize, acked: mpsc::Sender<String>) {
    let Ok(stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut reply = || -> Option<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(all);
            }
        }
    };
    reply();
    if writer.write_all(b"EHLO crash.test\r\n").is_err() || reply().is_none() {
        return;
    }
    for n in 0.. {
        let token = format!("c{id}-m{n}");
        let msg = format!(
            "MAIL FROM:<load@outside.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: {token}\r\nX-Token: {token}\r\n\r\n{}\r\n.\r\n",
            "payload ".repeat(64)
        );
        if writer.write_all(msg.as_bytes()).is_err() {
            return;
        }
        for _ in 0..3 {
            if reply().is_none() {
                return;
            }
        }
        match reply() {
            Some(r) if r.starts_with("250") => {
                if acked.send(token).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

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

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored: Vec<String> = runtime.block_on(async {
        let store = estafeta_store::open(&estafeta_store::StoreOptions {
            backend: estafeta_store::Backend::Sqlite {
                path: env.data_dir().join("estafeta.db"),
            },
            max_connections: 2,
        })
        .await
        .unwrap();
        let bob = store.get_user("bob@example.com").await.unwrap().unwrap();
        let inbox = store.get_mailbox(bob.id, "INBOX").await.unwrap().unwrap();
        let mut tokens = Vec::new();
        for e in store.list_messages(inbox.id).await.unwrap() {
            let m = store.read_message(inbox.id, e.uid).await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&m).into_owned();
            let token = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Token: "))
                .expect("token header")
                .to_string();
            tokens.push(token);
        }
        tokens
    });
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
