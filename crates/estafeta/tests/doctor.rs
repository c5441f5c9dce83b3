//! `estafeta doctor` end to end: the real binary against a running `serve` and a real DNS
//! server on loopback (testkit's hickory-server), with a good zone for example.com, a
//! broken one for broken.example (each broken record named with its fix), a blocklist
//! that lists us, and then with the DNS server gone (DNS checks skipped, in bounded time).

mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Env, Server};
use estafeta_testkit::dns::{Records, TestDns};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn config(dns: Option<std::net::SocketAddr>, ports: &[u16; 3]) -> String {
    let dns = dns
        .map(|a| format!("dns_servers = [\"{a}\"]\n"))
        .unwrap_or_default();
    format!(
        "hostname = \"mail.example.com\"\n\
         [smtp]\ntrusted_networks = []\n\
         [trust]\nchecks = false\n\
         [delivery]\n{dns}\
         [doctor]\npublic_addresses = [\"127.0.0.1\", \"192.0.2.10\"]\nblocklists = [\"bl.test\", \"clean.test\"]\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {}\nprotocol = \"smtp\"\ntls = \"starttls\"\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {}\nprotocol = \"submission\"\ntls = \"starttls\"\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {}\nprotocol = \"imap\"\ntls = \"implicit\"\n",
        ports[0], ports[1], ports[2]
    )
}

/// The `p=` value of the one DKIM record in `estafeta dkim list DOMAIN`'s output.
fn public_key(listing: &str) -> String {
    let start = listing.find("p=").expect("a DKIM record") + 2;
    listing[start..]
        .split('"')
        .next()
        .expect("the key")
        .to_string()
}

/// `estafeta doctor --json`, off the async runtime (the DNS server runs on it).
async fn doctor(env: &Env, config: &str) -> (Output, serde_json::Value, Duration) {
    let args = [
        "-c".to_string(),
        config.to_string(),
        "doctor".into(),
        "--json".into(),
    ];
    let mut command = env.command(&[]);
    command.args(&args);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || command.output().expect("run doctor"))
        .await
        .expect("join");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json, elapsed)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

fn assert_status(report: &serde_json::Value, name: &str, status: &str) {
    let c = check(report, name);
    assert_eq!(c["status"], status, "{name}: {c:#}");
}

fn fix<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    check(report, name)["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no fix"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_against_a_good_and_a_broken_zone_then_without_dns() {
    let env = Env::new();
    let ports = [free_port(), free_port(), free_port()];
    let file = env.write_config(&config(None, &ports));
    let c = file.to_str().expect("utf-8").to_string();
    for domain in ["example.com", "broken.example"] {
        env.ok(&["-c", &c, "domain", "add", domain], "");
        env.ok(
            &[
                "-c",
                &c,
                "dkim",
                "generate",
                domain,
                "--selector",
                "s1",
                "--algorithm",
                "ed25519",
            ],
            "",
        );
    }
    // SPF evaluated as a receiver would: through include:, a redirect loop, a softfail
    for domain in ["included.example", "looping.example", "soft.example"] {
        env.ok(&["-c", &c, "domain", "add", domain], "");
    }
    let good_key = public_key(&env.ok(&["-c", &c, "dkim", "list", "example.com"], ""));
    let broken_key = public_key(&env.ok(&["-c", &c, "dkim", "list", "broken.example"], ""));
    assert_ne!(good_key, broken_key);

    // loopback's PTR is answered by the resolver itself (RFC 6761: localhost), so the
    // PTR of a documentation address stands for our public one
    let public = Ipv4Addr::new(192, 0, 2, 10);
    let records = Records::new()
        // example.com: everything right
        .mx("example.com", 10, "mail.example.com")
        .a("mail.example.com", Ipv4Addr::LOCALHOST)
        .a("mail.example.com", public)
        .ptr(IpAddr::V4(public), "mail.example.com")
        .txt("example.com", "v=spf1 ip4:127.0.0.1 ip4:192.0.2.0/24 -all")
        .txt(
            "s1._domainkey.example.com",
            &format!("v=DKIM1; k=ed25519; p={good_key}"),
        )
        .txt("_dmarc.example.com", "v=DMARC1; p=none")
        .txt("_mta-sts.example.com", "v=STSv1; id=20261201")
        .txt(
            "_smtp._tls.example.com",
            "v=TLSRPTv1; rua=mailto:tls@example.com",
        )
        // broken.example: MX elsewhere, no SPF, another DKIM key, no DMARC/MTA-STS/TLS-RPT
        .mx("broken.example", 10, "mx.elsewhere.example")
        .a("mx.elsewhere.example", Ipv4Addr::new(192, 0, 2, 7))
        .txt("broken.example", "site-verification=abc")
        .txt(
            "s1._domainkey.broken.example",
            &format!("v=DKIM1; k=ed25519; p={good_key}"),
        )
        .txt("included.example", "v=spf1 include:_spf.provider.test -all")
        .txt(
            "_spf.provider.test",
            "v=spf1 ip4:127.0.0.1 ip4:192.0.2.0/24 ~all",
        )
        .txt("looping.example", "v=spf1 redirect=looping.example")
        .txt("soft.example", "v=spf1 ip4:127.0.0.1 ~all")
        // the blocklist bl.test lists 127.0.0.1; clean.test does not
        .a("1.0.0.127.bl.test", Ipv4Addr::new(127, 0, 0, 2));
    let dns = TestDns::start(records).await;
    let file = env.write_config(&config(Some(dns.addr), &ports));
    let server = Server::start(&env, &file);

    let (out, report, _) = doctor(&env, &c).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures mean exit 1: {report:#}"
    );

    // local
    for name in ["config", "data directory", "store", "queue", "serve"] {
        assert_status(&report, name, "ok");
    }
    // listeners, TLS (the self-signed certificate serve made for mail.example.com)
    for (protocol, port) in [
        ("smtp", ports[0]),
        ("submission", ports[1]),
        ("imap", ports[2]),
    ] {
        let l = format!("{protocol} 127.0.0.1:{port}");
        assert_status(&report, &format!("listener {l}"), "ok");
        assert_status(&report, &format!("tls {l} chain"), "warn");
        assert!(fix(&report, &format!("tls {l} chain")).contains("[tls] acme = true"));
        assert_status(&report, &format!("tls {l} names"), "ok");
        assert_status(&report, &format!("tls {l} expiry"), "ok");
        assert_status(&report, &format!("tls {l} protocol"), "ok");
    }
    assert_status(
        &report,
        &format!("open relay smtp 127.0.0.1:{}", ports[0]),
        "ok",
    );
    assert_status(
        &report,
        &format!("auth required submission 127.0.0.1:{}", ports[1]),
        "ok",
    );

    // the good zone
    assert_status(&report, "addresses", "ok");
    assert_status(&report, "dns mail.example.com A/AAAA", "ok");
    assert_status(&report, "dns PTR 192.0.2.10", "ok");
    assert_status(&report, "dns PTR 127.0.0.1", "warn");
    assert!(
        fix(&report, "dns PTR 127.0.0.1")
            .contains("1.0.0.127.in-addr.arpa. IN PTR mail.example.com.")
    );
    for what in ["MX", "SPF", "DKIM s1", "DMARC", "MTA-STS", "TLS-RPT"] {
        assert_status(&report, &format!("dns example.com {what}"), "ok");
    }

    // the broken zone: each failure names the record to publish
    assert_status(&report, "dns broken.example MX", "fail");
    assert_eq!(
        fix(&report, "dns broken.example MX"),
        "publish: broken.example. IN MX 10 mail.example.com."
    );
    assert_status(&report, "dns broken.example SPF", "fail");
    assert_eq!(
        fix(&report, "dns broken.example SPF"),
        "publish: broken.example. IN TXT \"v=spf1 mx -all\""
    );
    assert_status(&report, "dns broken.example DKIM s1", "fail");
    let dkim = fix(&report, "dns broken.example DKIM s1");
    assert!(
        dkim.starts_with(
            "publish: s1._domainkey.broken.example. IN TXT ( \"v=DKIM1; k=ed25519; p="
        ) && dkim.contains(&broken_key),
        "{dkim}"
    );
    assert_status(&report, "dns broken.example DMARC", "fail");
    assert_eq!(
        fix(&report, "dns broken.example DMARC"),
        "publish: _dmarc.broken.example. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@broken.example\""
    );
    assert_status(&report, "dns broken.example MTA-STS", "warn");
    assert!(
        fix(&report, "dns broken.example MTA-STS")
            .contains("_mta-sts.broken.example. IN TXT \"v=STSv1; id=")
    );
    assert_status(&report, "dns broken.example TLS-RPT", "warn");
    assert_eq!(
        fix(&report, "dns broken.example TLS-RPT"),
        "publish: _smtp._tls.broken.example. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@broken.example\""
    );

    // SPF followed through include: and redirect=
    assert_status(&report, "dns included.example SPF", "ok");
    assert_status(&report, "dns looping.example SPF", "fail");
    let looping = check(&report, "dns looping.example SPF")["detail"].to_string();
    assert!(looping.contains("permerror"), "{looping}");
    assert_eq!(
        fix(&report, "dns looping.example SPF"),
        "publish: looping.example. IN TXT \"v=spf1 mx -all\""
    );
    assert_status(&report, "dns soft.example SPF", "fail");
    let soft = check(&report, "dns soft.example SPF")["detail"].to_string();
    assert!(
        soft.contains("192.0.2.10 (softfail)") && !soft.contains("127.0.0.1 ("),
        "{soft}"
    );

    // blocklists
    assert_status(&report, "blocklist bl.test 127.0.0.1", "fail");
    assert!(
        check(&report, "blocklist bl.test 127.0.0.1")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.2"))
    );
    assert_status(&report, "blocklist clean.test 127.0.0.1", "ok");
    assert_status(&report, "blocklist bl.test 192.0.2.10", "ok");

    // the counts add up
    let total = report["checks"].as_array().map(Vec::len).unwrap_or(0) as u64;
    let counted: u64 = ["ok", "warn", "fail", "skipped"]
        .iter()
        .map(|k| report[k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, counted);

    // a named domain: only it
    let (_, only, _) = {
        let mut command = env.command(&["-c", &c, "doctor", "--json", "example.com"]);
        let out = tokio::task::spawn_blocking(move || command.output().expect("run"))
            .await
            .expect("join");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (out, json, ())
    };
    assert_status(&only, "dns example.com MX", "ok");
    assert!(
        !only["checks"].to_string().contains("broken.example"),
        "{only:#}"
    );

    // no DNS: every DNS check skipped, quickly
    drop(dns);
    let (_, report, elapsed) = doctor(&env, &c).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let checks = report["checks"].as_array().expect("checks");
    let dns_checks: Vec<_> = checks
        .iter()
        .filter(|c| {
            let n = c["name"].as_str().unwrap_or("");
            n.starts_with("dns") || n.starts_with("blocklist")
        })
        .collect();
    assert!(!dns_checks.is_empty());
    for c in dns_checks {
        assert_eq!(c["status"], "skipped", "{c:#}");
        assert!(
            c["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("could not check"))
        );
    }
    assert_status(
        &report,
        &format!("listener smtp 127.0.0.1:{}", ports[0]),
        "ok",
    );
    drop(server);
}

#[test]
fn human_output_and_exit_code_without_a_server() {
    let env = Env::new();
    let port = free_port();
    let file = env.write_config(&format!(
        "hostname = \"mail.example.com\"\n[delivery]\ndns_servers = [\"127.0.0.1:{}\"]\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {port}\nprotocol = \"smtp\"\ntls = \"starttls\"\n",
        free_port()
    ));
    let c = file.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    let started = Instant::now();
    let out = env.run(&["-c", c, "doctor"], "");
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "FAIL  listener smtp 127.0.0.1:{port}: cannot connect"
        )) && l
            .ends_with("— is `estafeta serve` running? (systemctl status estafeta)")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("ok    config: ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("skip  dns: could not check")),
        "{text}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    // a broken configuration: exit 2, as every command
    let file = env.write_config("hostname = \"not a name\"\n");
    let out = env.run(&["-c", file.to_str().expect("utf-8"), "doctor"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_summary_names_the_deferred_and_their_last_replies() {
    // remote.test's MX is loopback, on a port where nothing listens: delivery defers
    let closed = free_port();
    let dns = TestDns::start(Records::new().mx_at("remote.test", Ipv4Addr::LOCALHOST)).await;
    let env = Env::new();
    let file = env.write_config(&format!(
        "hostname = \"mail.test\"\n[trust]\nchecks = false\n\
         [delivery]\ndns_servers = [\"{}\"]\nmx_port = {closed}\nretry_schedule = [3600]\n\
         [doctor]\nblocklists = []\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"smtp\"\ntls = \"starttls\"\n",
        dns.addr
    ));
    let c = file.to_str().expect("utf-8").to_string();
    let server = Server::start(&env, &file);
    estafeta_net::testing::smtp_send(
        server.address("smtp"),
        "sender@outside.test",
        "u@remote.test",
        "From: sender@outside.test\r\nTo: u@remote.test\r\nSubject: waits\r\n\r\nHi.\r\n",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let queue = loop {
        let (_, report, _) = doctor(&env, &c).await;
        let queue = check(&report, "queue").clone();
        if queue["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1 deferred"))
        {
            break queue;
        }
        assert!(Instant::now() < deadline, "never deferred: {report:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(queue["status"], "ok", "{queue:#}");
    let detail = queue["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("1 message(s), oldest "), "{detail}");
    assert!(
        detail.contains("most frequent last replies: 1× "),
        "{detail}"
    );
    // a listener on port 0 cannot be checked from its configuration
    assert_status(
        &check_report(&env, &c).await,
        "listener smtp 127.0.0.1:0",
        "skipped",
    );
    drop(server);
}

async fn check_report(env: &Env, config: &str) -> serde_json::Value {
    doctor(env, config).await.1
}

/// Something on port 25 that accepts every recipient (a fake server standing where ours
/// should be) is reported as an open relay, and a submission listener taking MAIL
/// without AUTH as such; a data directory others can write to fails with the chmod that
/// fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_relay_and_a_world_writable_data_dir_fail() {
    use std::os::unix::fs::PermissionsExt;

    let (port, submission) = (yes_server().await, yes_server().await);
    let env = Env::new();
    let file = env.write_config(&format!(
        "hostname = \"mail.example.com\"\n[smtp]\ntrusted_networks = []\n\
         [delivery]\ndns_servers = [\"127.0.0.1:{}\"]\n[doctor]\nblocklists = []\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {port}\nprotocol = \"smtp\"\ntls = \"starttls\"\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {submission}\nprotocol = \"submission\"\ntls = \"starttls\"\n",
        free_port()
    ));
    let c = file.to_str().expect("utf-8").to_string();
    env.ok(&["-c", &c, "domain", "add", "example.com"], "");
    let data = env.data_dir();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).expect("chmod");

    let (out, report, _) = doctor(&env, &c).await;
    assert_eq!(out.status.code(), Some(1));
    let relay = format!("open relay smtp 127.0.0.1:{port}");
    assert_status(&report, &relay, "fail");
    assert!(
        check(&report, &relay)["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("OPEN RELAY")),
        "{report:#}"
    );
    assert!(fix(&report, &relay).contains("smtp.trusted_networks"));
    let auth = format!("auth required submission 127.0.0.1:{submission}");
    assert_status(&report, &auth, "fail");
    assert_status(&report, "data directory", "fail");
    assert_eq!(
        fix(&report, "data directory"),
        format!("run: chmod 700 {}", data.display())
    );
}

/// A fake SMTP server on loopback that says 250 to everything; its port.
async fn yes_server() -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = fake.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = fake.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 yes.test ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if line.eq_ignore_ascii_case("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A certificate for mail.example.com valid until `days` from now (negative: already
/// expired), written as PEM files in the data directory's parent; their paths.
fn certificate_ending_in(env: &Env, days: i64, tag: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["mail.example.com".to_string()]).expect("params");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let at = |secs: i64| {
        rcgen::date_time_ymd(1970, 1, 1)
            + Duration::from_secs(u64::try_from(secs).expect("after 1970"))
    };
    params.not_before = at(now - 400 * 86_400);
    params.not_after = at(now + days * 86_400);
    let cert = params.self_signed(&key).expect("certificate");
    let dir = env.data_dir().parent().expect("parent").to_path_buf();
    let (c, k) = (
        dir.join(format!("{tag}.crt")),
        dir.join(format!("{tag}.key")),
    );
    std::fs::write(&c, cert.pem()).expect("write certificate");
    std::fs::write(&k, key.serialize_pem()).expect("write key");
    (
        c.to_str().expect("utf-8").to_string(),
        k.to_str().expect("utf-8").to_string(),
    )
}

/// A certificate that has expired fails, with the way to renew it; one ending within 21
/// days is a warning; one with months left is fine. Each served by a real `serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiry_fails_when_past_and_warns_within_21_days() {
    for (days, status, detail) in [
        (-3, "fail", "expired on "),
        (10, "warn", "expires in "),
        (200, "ok", "valid for "),
    ] {
        let env = Env::new();
        let (certificate, key) = certificate_ending_in(&env, days, "mail");
        let port = free_port();
        let file = env.write_config(&format!(
            "hostname = \"mail.example.com\"\n[smtp]\ntrusted_networks = []\n\
             [delivery]\ndns_servers = [\"127.0.0.1:{}\"]\n[doctor]\nblocklists = []\n\
             [tls]\ncertificate = \"{certificate}\"\nprivate_key = \"{key}\"\n\
             [[listener]]\naddress = \"127.0.0.1\"\nport = {port}\nprotocol = \"imap\"\ntls = \"implicit\"\n",
            free_port()
        ));
        let c = file.to_str().expect("utf-8").to_string();
        let _server = Server::start(&env, &file);
        let (out, report, _) = doctor(&env, &c).await;
        let name = format!("tls imap 127.0.0.1:{port} expiry");
        assert_status(&report, &name, status);
        assert!(
            check(&report, &name)["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(detail)),
            "{days} days: {report:#}"
        );
        if status == "ok" {
            assert!(check(&report, &name)["fix"].is_null(), "{report:#}");
        } else {
            assert!(
                fix(&report, &name).contains("[tls] acme = true"),
                "{report:#}"
            );
        }
        if status == "fail" {
            assert_eq!(out.status.code(), Some(1), "{report:#}");
        }
    }
}

/// A listener that answers one greeting line a second, forever, (each line within the
/// per-reply timeout) is given up at the per-listener budget of 30 s, for the TLS check
/// and for the relay check, and the doctor still finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_never_finishes_its_greeting_is_given_up() {
    use tokio::io::AsyncWriteExt;
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = slow.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = slow.accept().await {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if stream.write_all(b"220-still greeting\r\n").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let env = Env::new();
    let file = env.write_config(&format!(
        "hostname = \"mail.example.com\"\n[smtp]\ntrusted_networks = []\n\
         [delivery]\ndns_servers = [\"127.0.0.1:{}\"]\n[doctor]\nblocklists = []\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {port}\nprotocol = \"smtp\"\ntls = \"starttls\"\n",
        free_port()
    ));
    let c = file.to_str().expect("utf-8").to_string();
    let (_, report, elapsed) = doctor(&env, &c).await;
    for name in [
        format!("tls smtp 127.0.0.1:{port}"),
        format!("open relay smtp 127.0.0.1:{port}"),
    ] {
        assert_status(&report, &name, "skipped");
        assert!(
            check(&report, &name)["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no result within 30 s")),
            "{report:#}"
        );
    }
    assert!(elapsed < Duration::from_secs(100), "took {elapsed:?}");
}
