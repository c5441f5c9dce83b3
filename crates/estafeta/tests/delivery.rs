//! Delivery by the real binary: the queue CLI beside a running server (SQLite and, when
//! `ESTAFETA_TEST_POSTGRES` is set, PostgreSQL), and a restart in the middle of the queue
//! that loses nothing and delivers nothing twice. The next hop is a scripted SMTP server
//! on 127.0.0.2 found through a DNS server on loopback.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Env, Server, one_line_stderr};
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Action, Script, ScriptedSmtp};

/// The next hop and its DNS, on a runtime of their own.
struct World {
    rt: tokio::runtime::Runtime,
    dns: TestDns,
    mx: ScriptedSmtp,
}

impl World {
    fn start(script: Script) -> World {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let (dns, mx) = rt.block_on(async {
            let mx = ScriptedSmtp::start_on("127.0.0.2:0".parse().unwrap(), script).await;
            let dns =
                TestDns::start(Records::new().mx_at("remote.test", Ipv4Addr::new(127, 0, 0, 2)))
                    .await;
            (dns, mx)
        });
        World { rt, dns, mx }
    }

    /// A configuration delivering to the scripted server; `extra` goes first (storage).
    fn config(&self, extra: &str, schedule: &str) -> String {
        format!(
            "hostname = \"mail.test\"\n{extra}\n[delivery]\ndns_servers = [\"{}\"]\nmx_port = {}\n\
             retry_schedule = {schedule}\nscan_interval = 1\nhost_retry_after = 1\n\
             max_connections_per_destination = 1\nmax_messages_per_connection = 1\n\
             [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"smtp\"\ntls = \"starttls\"\n",
            self.dns.addr,
            self.mx.addr.port()
        )
    }

    /// Submits a message to the server (relayed: loopback is a trusted network).
    fn submit(&self, smtp: SocketAddr, subject: &str) {
        let body = format!(
            "From: sender@outside.test\r\nTo: u@remote.test\r\nSubject: {subject}\r\n\r\nHi.\r\n"
        );
        self.rt.block_on(estafeta_net::testing::smtp_send(
            smtp,
            "sender@outside.test",
            "u@remote.test",
            &body,
        ));
    }

    /// How many times the scripted server received each subject.
    fn received_counts(&self) -> std::collections::HashMap<String, usize> {
        let mut seen = std::collections::HashMap::new();
        for s in self.received() {
            *seen.entry(s).or_insert(0) += 1;
        }
        seen
    }

    /// Waits (polling, up to `secs` seconds) until `n` different subjects arrived.
    fn wait_distinct(&self, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received_counts().len();
            if got >= n {
                return;
            }
            assert!(Instant::now() < deadline, "{got} of {n} delivered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Subjects the scripted server received, in order.
    fn received(&self) -> Vec<String> {
        self.mx
            .messages()
            .iter()
            .map(|m| {
                let text = String::from_utf8_lossy(&m.body);
                text.lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .collect()
    }
}

/// Polls `probe` every 50 ms for up to 30 s.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The queue id in `queue list` output on the line of the message from sender@outside.test.
fn queue_ids(list: &str) -> Vec<String> {
    list.lines()
        .filter(|l| l.contains("from sender@outside.test"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn queue_cli_flow(storage: &str) {
    let accept = Arc::new(AtomicBool::new(false));
    let gate = accept.clone();
    let world = World::start(Script::new().on(move |c| {
        (c.verb == "RCPT" && !gate.load(Ordering::SeqCst))
            .then(|| Action::Reply("451 4.3.0 come back later".into()))
    }));
    let env = Env::new();
    let config = env.write_config(&world.config(storage, "[3600]"));
    let c = config.to_str().unwrap();
    let server = Server::start(&env, &config);
    let smtp = server.address("smtp");

    // a message deferred for an hour
    world.submit(smtp, "first");
    let list = wait_for("the message to be deferred", || {
        let out = env.ok(&["-c", c, "queue", "list"], "");
        out.contains("deferred  attempts 1").then_some(out)
    });
    assert!(
        list.contains("u@remote.test  deferred  attempts 1  next attempt: in 59m")
            || list.contains("u@remote.test  deferred  attempts 1  next attempt: in 60m"),
        "{list}"
    );
    assert!(
        list.contains("last reply: 451 4.3.0 come back later"),
        "{list}"
    );
    let id = queue_ids(&list).pop().expect("queue id");
    let show = env.ok(&["-c", c, "queue", "show", &id.to_ascii_lowercase()], "");
    for want in [
        &format!("queue id:  {id}") as &str,
        "from:      sender@outside.test",
        "  to:           u@remote.test",
        "  state:        deferred",
        "  attempts:     1",
        "  last host:    mx.remote.test[127.0.0.2]:",
        "  last reply:   451 4.3.0 come back later",
        "  next attempt: ",
    ] {
        assert!(show.contains(want), "{want:?} missing:\n{show}");
    }
    // unknown ids: one clear line, exit 1
    for cmd in ["show", "retry", "delete"] {
        let out = env.run(&["-c", c, "queue", cmd, "0000000000000000"], "");
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert_eq!(
            one_line_stderr(&out),
            "error: no message 0000000000000000 in the queue (delivered, bounced or deleted; see `estafeta queue list`)"
        );
    }

    // the next hop takes mail again: retry ID delivers it now, not in an hour
    accept.store(true, Ordering::SeqCst);
    assert_eq!(
        env.ok(&["-c", c, "queue", "retry", &id], ""),
        format!("{id}: 1 recipient(s) due now\n")
    );
    wait_for("the retried message at the next hop", || {
        world
            .received()
            .contains(&"first".to_string())
            .then_some(())
    });
    wait_for("an empty queue", || {
        (env.ok(&["-c", c, "queue", "list"], "") == "queue is empty\n").then_some(())
    });

    // flush: everything due, and the command waits for the attempts
    accept.store(false, Ordering::SeqCst);
    world.submit(smtp, "second");
    world.submit(smtp, "third");
    wait_for("two deferred messages", || {
        let out = env.ok(&["-c", c, "queue", "list"], "");
        (out.matches("deferred  attempts 1").count() == 2).then_some(())
    });
    let third = queue_ids(&env.ok(&["-c", c, "queue", "list"], ""))
        .pop()
        .expect("id");
    assert_eq!(
        env.ok(&["-c", c, "queue", "delete", &third], ""),
        format!("{third}: deleted from the queue (no report sent to the sender)\n")
    );
    accept.store(true, Ordering::SeqCst);
    let out = env.ok(&["-c", c, "queue", "flush", "--wait", "30"], "");
    assert!(
        out.starts_with("1 recipient(s) due now; waiting for the attempts\n"),
        "{out}"
    );
    assert!(
        out.contains("done: 1 recipient(s) tried; 0 still deferred"),
        "{out}"
    );
    wait_for("an empty queue", || {
        (env.ok(&["-c", c, "queue", "list"], "") == "queue is empty\n").then_some(())
    });
    assert_eq!(
        world.received(),
        vec!["first", "second"],
        "the deleted one never went"
    );
    assert_eq!(
        env.ok(&["-c", c, "queue", "retry", "--all"], ""),
        "0 recipient(s) due now\n"
    );
    assert_eq!(
        env.ok(&["-c", c, "queue", "flush"], ""),
        "nothing waiting in the queue\n"
    );
    drop(server);
}

#[test]
fn queue_cli_beside_a_running_server() {
    queue_cli_flow("");
}

#[test]
fn queue_cli_beside_a_running_server_on_postgres() {
    if let Some(db) = common::PgDatabase::create("estafeta_queue_cli") {
        queue_cli_flow(&db.storage_config());
    }
}

/// SIGTERM while messages are being delivered: what was sent is recorded, what was not
/// is given back; after the restart every message arrives, each exactly once.
#[test]
fn restart_mid_queue_loses_nothing_and_delivers_nothing_twice() {
    const N: usize = 20;
    let ended = Arc::new(AtomicUsize::new(0));
    let count = ended.clone();
    // each message takes the next hop ~200 ms: the queue is still busy at the stop
    let world = World::start(Script::new().on(move |c| {
        if c.verb == "." {
            std::thread::sleep(Duration::from_millis(200));
            count.fetch_add(1, Ordering::SeqCst);
        }
        None
    }));
    let env = Env::new();
    let config = env.write_config(&world.config("", "[1]"));
    let c = config.to_str().unwrap();
    let mut server = Server::start(&env, &config);
    let smtp = server.address("smtp");
    // all at once, so that the queue is full before the next hop has taken many
    std::thread::scope(|scope| {
        for i in 0..N {
            let world = &world;
            scope.spawn(move || world.submit(smtp, &format!("m{i:02}")));
        }
    });
    wait_for("a few deliveries", || {
        (ended.load(Ordering::SeqCst) >= 3).then_some(())
    });
    server.signal(libc::SIGTERM);
    server.wait_for_log("delivery scheduler stopped");
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    let before = world.received().len();
    assert!(
        before < N,
        "the stop came mid-queue ({before} of {N} delivered)"
    );
    let list = env.ok(&["-c", c, "queue", "list"], "");
    assert!(
        list.contains("message(s)"),
        "the rest is still queued: {list}"
    );
    assert!(!list.contains("deferred"), "nothing was half-sent: {list}");

    let server = Server::start(&env, &config);
    wait_for("every message at the next hop", || {
        (world.received().len() >= N).then_some(())
    });
    wait_for("an empty queue", || {
        (env.ok(&["-c", c, "queue", "list"], "") == "queue is empty\n").then_some(())
    });
    let mut got = world.received();
    got.sort();
    let want: Vec<String> = (0..N).map(|i| format!("m{i:02}")).collect();
    assert_eq!(got, want, "each message exactly once");
    drop(server);
}

/// kill -9 in the middle of relaying: after a restart every message reaches the next hop,
/// and at most one message per open connection reaches it twice (a message's data goes
/// out only once the previous outcome on its connection is written). The restarted
/// process takes back at once the leases the killed one held (SQLite: it is alone on
/// its store), rather than after `lease_time`.
#[test]
fn kill_9_mid_relay_sends_at_most_one_message_twice_per_connection() {
    const N: usize = 150;
    const CONNECTIONS: usize = 4;
    let ended = Arc::new(AtomicUsize::new(0));
    let count = ended.clone();
    // closed while the messages are queued, so that the kill finds most still to go
    let open = Arc::new(AtomicBool::new(false));
    let gate = open.clone();
    let world = World::start(Script::new().on(move |c| {
        if c.verb == "RCPT" && !gate.load(Ordering::SeqCst) {
            return Some(Action::Reply("451 4.3.0 not yet".into()));
        }
        if c.verb == "." {
            std::thread::sleep(Duration::from_millis(50));
            count.fetch_add(1, Ordering::SeqCst);
        }
        None
    }));
    let env = Env::new();
    let config = world
        .config("", "[1]")
        .replace(
            "max_connections_per_destination = 1\nmax_messages_per_connection = 1\n",
            &format!(
                "max_connections_per_destination = {CONNECTIONS}\nmax_messages_per_connection = 1000\nlease_time = 3600\n"
            ),
        );
    let config = env.write_config(&config);
    let c = config.to_str().unwrap();
    let mut server = Server::start(&env, &config);
    let smtp = server.address("smtp");
    std::thread::scope(|scope| {
        for t in 0..5 {
            let world = &world;
            scope.spawn(move || {
                for i in (t..N).step_by(5) {
                    world.submit(smtp, &format!("m{i:03}"));
                }
            });
        }
    });
    open.store(true, Ordering::SeqCst);
    wait_for("deliveries under way", || {
        (ended.load(Ordering::SeqCst) >= 20).then_some(())
    });
    server.signal(libc::SIGKILL);
    server.child.wait().unwrap();
    let before = world.received().len();
    assert!(before < N, "the kill came mid-queue ({before} of {N})");

    // the leases last an hour: only taking them back at start finishes within the wait
    let server = Server::start(&env, &config);
    world.wait_distinct(N, 30);
    wait_for("an empty queue", || {
        (env.ok(&["-c", c, "queue", "list"], "") == "queue is empty\n").then_some(())
    });
    let seen = world.received_counts();
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(seen.len(), N, "every message arrived");
    assert!(
        twice.len() <= CONNECTIONS && seen.values().all(|n| *n <= 2),
        "at most one message per connection twice: {twice:?}"
    );
    eprintln!(
        "delivered before the kill: {before}; sent twice: {}",
        twice.len()
    );
    drop(server);
}

/// Two nodes on one PostgreSQL: the one holding the leases is killed (kill -9), and the
/// other takes its work over once its heartbeat is 20 seconds old, though the leases
/// themselves would last an hour; every message arrives, at most one per connection twice.
#[test]
fn a_killed_nodes_work_is_taken_over_by_the_other_within_seconds() {
    const N: usize = 20;
    let Some(db) = common::PgDatabase::create("estafeta_failover") else {
        return;
    };
    // the next hop takes 500 ms a message: node a still holds most leases when killed
    let world = World::start(Script::new().on(|c| {
        if c.verb == "." {
            std::thread::sleep(Duration::from_millis(500));
        }
        None
    }));
    let toml = world.config(&db.storage_config(), "[1]").replace(
        "max_connections_per_destination = 1\n",
        "max_connections_per_destination = 1\nlease_time = 3600\n",
    );
    let env_a = Env::new();
    let config_a = env_a.write_config(&toml);
    let mut a = Server::start(&env_a, &config_a);
    let smtp = a.address("smtp");
    std::thread::scope(|scope| {
        for i in 0..N {
            let world = &world;
            scope.spawn(move || world.submit(smtp, &format!("f{i:02}")));
        }
    });
    // a holds the leases of what it has not sent yet (its own hand-overs)
    let env_b = Env::new();
    let config_b = env_b.write_config(&toml);
    let b = Server::start(&env_b, &config_b);
    a.signal(libc::SIGKILL);
    a.child.wait().unwrap();
    let before = world.received_counts().len();
    assert!(before < N, "the kill came with work left ({before} of {N})");
    let started = Instant::now();
    world.wait_distinct(N, 90);
    let took = started.elapsed();
    let seen = world.received_counts();
    assert!(seen.values().all(|n| *n <= 2), "{seen:?}");
    // not before the heartbeat is 20 s old, well before the leases' hour
    assert!(
        took >= Duration::from_secs(15) && took < Duration::from_secs(60),
        "taken over in {took:?}"
    );
    eprintln!("{before} delivered before the kill, the rest {took:?} after it");
    drop(b);
}

/// Three nodes on one PostgreSQL: mail comes in through every node (for a local user and
/// for the next hop), every node's IMAP shows the whole INBOX, and one node killed in the
/// middle of relaying leaves its work to the two others: every message arrives, none
/// more than twice.
#[test]
fn three_nodes_share_mail_in_and_out_and_survive_one_killed() {
    const PER_NODE: usize = 8;
    let Some(db) = common::PgDatabase::create("estafeta_three") else {
        return;
    };
    let world = World::start(Script::new().on(|c| {
        if c.verb == "." {
            std::thread::sleep(Duration::from_millis(700));
        }
        None
    }));
    let toml = format!(
        "{}[auth]\nallow_plaintext_on_loopback = true\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"imap\"\ntls = \"none\"\n",
        world.config(&db.storage_config(), "[1]").replace(
            "max_connections_per_destination = 1\n",
            "max_connections_per_destination = 1\nlease_time = 3600\n"
        )
    );
    let envs: Vec<Env> = (0..3).map(|_| Env::new()).collect();
    let configs: Vec<_> = envs.iter().map(|e| e.write_config(&toml)).collect();
    let c0 = configs[0].to_str().unwrap();
    envs[0].ok(&["-c", c0, "domain", "add", "example.com"], "");
    envs[0].ok(
        &[
            "-c",
            c0,
            "user",
            "add",
            "bob@example.com",
            "--password-stdin",
        ],
        "pw\n",
    );
    let mut nodes: Vec<Server> = envs
        .iter()
        .zip(&configs)
        .map(|(e, c)| Server::start(e, c))
        .collect();
    // in through every node: mail for bob, read through every node
    std::thread::scope(|scope| {
        for (n, node) in nodes.iter().enumerate() {
            let smtp = node.address("smtp");
            let world = &world;
            scope.spawn(move || {
                for i in 0..PER_NODE {
                    let body = format!("From: a@outside.test\r\nTo: bob@example.com\r\nSubject: local n{n}-{i:02}\r\n\r\nHi.\r\n");
                    world.rt.block_on(estafeta_net::testing::smtp_send(
                        smtp,
                        "a@outside.test",
                        "bob@example.com",
                        &body,
                    ));
                }
            });
        }
    });
    for node in &nodes {
        let imap = node.address("imap");
        let out = world.rt.block_on(estafeta_testkit::python(&format!(
            "import imaplib\nm = imaplib.IMAP4('{}', {})\nm.login('bob@example.com', 'pw')\n\
             typ, n = m.select('INBOX')\nprint(n[0].decode())\nm.logout()\n",
            imap.ip(),
            imap.port()
        )));
        assert_eq!(
            String::from_utf8_lossy(&out).trim(),
            (3 * PER_NODE).to_string()
        );
    }
    // mail for the next hop through every node, each keeping what it accepted
    std::thread::scope(|scope| {
        for (n, node) in nodes.iter().enumerate() {
            let smtp = node.address("smtp");
            let world = &world;
            scope.spawn(move || {
                for i in 0..PER_NODE {
                    world.submit(smtp, &format!("n{n}-{i:02}"));
                }
            });
        }
    });
    // one node killed while the next hop is slow: the others finish its work
    let killed = nodes.remove(1);
    killed.signal(libc::SIGKILL);
    let mut killed = killed;
    killed.child.wait().unwrap();
    let from_killed = world
        .received()
        .iter()
        .filter(|s| s.starts_with("n1-"))
        .count();
    assert!(from_killed < PER_NODE, "the killed node had work left");
    world.wait_distinct(3 * PER_NODE, 90);
    let seen = world.received_counts();
    assert_eq!(seen.len(), 3 * PER_NODE);
    // at most one message per connection twice: one connection per node here
    let twice = seen.values().filter(|n| **n > 1).count();
    assert!(twice <= 3 && seen.values().all(|n| *n <= 2), "{seen:?}");
    drop(nodes);
}
