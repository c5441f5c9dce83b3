//! Two nodes on one PostgreSQL hold their limits together: failed logins and sending
//! rates counted on one node count on the other once the nodes have exchanged their
//! counts (every 2 s, through the store). Each test waits, on the database, until the
//! node it asks next has read the other's count, then shows that the cluster's total
//! refuses what that node alone would have allowed.

mod common;

use std::time::{Duration, Instant};

use common::{Env, PgDatabase, Server};

/// Two nodes on `db`, each with a plaintext submission listener (logins allowed on
/// loopback), and bob@example.com (password "secret").
fn two_nodes(db: &PgDatabase, limits: &str) -> (Vec<Env>, Vec<Server>) {
    let toml = format!(
        "hostname = \"mail.test\"\n{}[auth]\nallow_plaintext_on_loopback = true\nfailure_delay_ms = 1\n\
         {limits}\n[trust]\nchecks = false\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"submission\"\ntls = \"none\"\n",
        db.storage_config()
    );
    let envs: Vec<Env> = (0..2).map(|_| Env::new()).collect();
    let configs: Vec<_> = envs.iter().map(|e| e.write_config(&toml)).collect();
    let c = configs[0].to_str().unwrap();
    envs[0].ok(&["-c", c, "domain", "add", "example.com"], "");
    envs[0].ok(
        &[
            "-c",
            c,
            "user",
            "add",
            "bob@example.com",
            "--password-stdin",
        ],
        "secret\n",
    );
    let nodes = envs
        .iter()
        .zip(&configs)
        .map(|(e, c)| Server::start(e, c))
        .collect();
    (envs, nodes)
}

/// Logs in (AUTH PLAIN) to `node`'s submission port and, with `send`, sends one message;
/// returns the reply of the last step.
fn submit(node: &Server, password: &str, send: bool) -> String {
    let addr = node.address("submission");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            r#"
import smtplib
s = smtplib.SMTP("{ip}", {port})
s.ehlo()
s.user, s.password = "bob@example.com", "{password}"
try:
    s.auth("PLAIN", s.auth_plain)
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode()); raise SystemExit
if {send}:
    try:
        s.sendmail("bob@example.com", ["bob@example.com"], "Subject: x\r\n\r\nhi\r\n")
        print("250 sent")
    except smtplib.SMTPResponseException as e:
        print(e.smtp_code, e.smtp_error.decode())
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        print(code, text.decode())
else:
    print("235 logged in")
s.quit()
"#,
            ip = addr.ip(),
            port = addr.port(),
            send = if send { "True" } else { "False" },
        ))
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until the node that wrote `later` has exchanged after the one that wrote
/// `earlier` (so it has read it): both counts of `key` in `scope`.
fn wait_exchanged(db: &PgDatabase, scope: &str, key: &str, earlier: i64, later: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = db.rows(&format!(
            "SELECT count, updated_at FROM shared_counts WHERE scope = '{scope}' AND key = '{key}'"
        ));
        let at = |count: i64| rows.iter().find(|r| r.0 == count).map(|r| r.1);
        if let (Some(e), Some(l)) = (at(earlier), at(later))
            && l > e
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no exchange seen: {rows:?} {:?}",
            db.rows("SELECT count, updated_at FROM shared_counts")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failed_logins_on_one_node_count_on_the_other() {
    let Some(db) = PgDatabase::create("estafeta_shared_auth") else {
        return;
    };
    let (_envs, nodes) = two_nodes(&db, "max_failures = 4\nmax_failures_per_address = 4");
    for _ in 0..3 {
        assert!(submit(&nodes[0], "wrong", false).starts_with("535"));
    }
    assert!(submit(&nodes[1], "wrong", false).starts_with("535"));
    // node 0 has read node 1's failure: 3 + 1 reach the limit of 4
    wait_exchanged(&db, "auth", "c/127.0.0.1", 1, 3);
    let reply = submit(&nodes[0], "secret", false);
    assert!(
        reply.starts_with("454") && reply.contains("Too many failed"),
        "node 0 alone had 3 of 4 failures, the cluster 4: {reply}"
    );
}

#[test]
fn sending_rates_on_one_node_count_on_the_other() {
    let Some(db) = PgDatabase::create("estafeta_shared_rates") else {
        return;
    };
    let (_envs, nodes) = two_nodes(&db, "[smtp]\nuser_messages_per_hour = 3");
    for _ in 0..2 {
        assert_eq!(submit(&nodes[0], "secret", true), "250 sent");
    }
    assert_eq!(submit(&nodes[1], "secret", true), "250 sent");
    wait_exchanged(&db, "rates", "user-messages/bob@example.com", 1, 2);
    let reply = submit(&nodes[0], "secret", true);
    assert!(
        reply.starts_with("451") && reply.contains("messages per"),
        "node 0 alone had sent 2 of 3, the cluster 3: {reply}"
    );
}
