//! The checks of mail from outside, end to end: a real DNS server on loopback answers SPF,
//! DKIM and DMARC records; a raw client sends on the MX port from 127.0.0.1 (outside: not
//! logged in, not trusted); the assertions are on the replies and on the stored message
//! (its `Authentication-Results:`, INBOX or Junk).

use base64::Engine;
use estafeta_config::{Config, SpfFail, TrustDomain};
use estafeta_net::testing::LineClient;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::{MailHost, TestUser};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

const BOB: &str = "bob@example.com";

/// The mail host with checks on, asking `dns`; `tweak` changes the rest.
async fn host(dns: &TestDns, tweak: impl FnOnce(&mut Config)) -> MailHost {
    let server = dns.addr.to_string();
    MailHost::start(&[TestUser(BOB, "pw", true)], &[], |c| {
        c.trust.checks = true;
        c.trust.timeout = 3;
        c.delivery.dns_servers = vec![server];
        tweak(c);
    })
    .await
}

/// EHLO `helo`, MAIL FROM `from`, RCPT TO bob, then `message`: the RCPT reply, and the
/// reply to the end of data (empty when RCPT was refused).
async fn send(host: &MailHost, helo: &str, from: &str, message: &str) -> (String, String) {
    let mut c = LineClient::plain(host.smtp).await;
    assert!(c.smtp_reply().await.starts_with("220"));
    c.send(&format!("EHLO {helo}\r\n")).await;
    assert!(c.smtp_reply().await.starts_with("250"));
    let r = c.cmd(&format!("MAIL FROM:<{from}>")).await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    let rcpt = c.cmd(&format!("RCPT TO:<{BOB}>")).await;
    if !rcpt.starts_with("250") {
        return (rcpt, String::new());
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(message).await;
    c.send(".\r\n").await;
    (rcpt, c.smtp_reply().await)
}

fn message(from: &str) -> String {
    format!("From: {from}\r\nTo: {BOB}\r\nSubject: checked\r\nMessage-ID: <1@x>\r\n\r\nHello.\r\n")
}

/// The one message in bob's `folder`, as stored.
async fn stored(host: &MailHost, folder: &str) -> Vec<String> {
    let store = &host.store;
    let user = store.get_user(BOB).await.unwrap().unwrap();
    let mb = store.get_mailbox(user.id, folder).await.unwrap().unwrap();
    let mut out = Vec::new();
    for e in store.list_messages(mb.id).await.unwrap() {
        let m = store.read_message(mb.id, e.uid).await.unwrap().unwrap();
        out.push(String::from_utf8(m).unwrap());
    }
    out
}

/// Our `Authentication-Results:` field of a stored message, unfolded.
fn results(message: &str) -> String {
    let start = message
        .find("Authentication-Results: mail.test")
        .expect("our Authentication-Results");
    let rest = &message[start..];
    let mut end = 0;
    for line in rest.split_inclusive("\r\n") {
        if end > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        end += line.len();
    }
    rest[..end].replace("\r\n\t", " ").trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_pass_fail_softfail_and_the_reject_policy() {
    let dns = TestDns::start(
        Records::new()
            .txt("pass.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt("fail.test", "v=spf1 ip4:192.0.2.1 -all")
            .txt("soft.test", "v=spf1 ~all")
            .txt("helo.test", "v=spf1 ip4:127.0.0.1 -all"),
    )
    .await;
    let h = host(&dns, |c| {
        c.trust.domain = vec![TrustDomain {
            name: "example.com".into(),
            spf_fail: Some(SpfFail::Reject),
            dmarc: None,
        }];
    })
    .await;
    let (_, end) = send(&h, "helo.test", "a@pass.test", &message("a@pass.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    let (rcpt, _) = send(&h, "helo.test", "a@fail.test", &message("a@fail.test")).await;
    assert!(
        rcpt.starts_with("550 5.7.23 SPF validation failed: fail.test"),
        "{rcpt}"
    );
    let (_, end) = send(&h, "helo.test", "a@soft.test", &message("a@soft.test")).await;
    assert!(end.starts_with("250 "), "softfail is not refused: {end}");
    let inbox = stored(&h, "INBOX").await;
    assert_eq!(inbox.len(), 2);
    let pass = results(&inbox[0]);
    assert!(pass.contains("spf=pass"), "{pass}");
    assert!(pass.contains("smtp.mailfrom=a@pass.test"), "{pass}");
    assert!(pass.contains("smtp.helo=helo.test"), "{pass}");
    assert!(results(&inbox[1]).contains("spf=softfail"), "{}", inbox[1]);

    // tagged only, under the server-wide default
    let h = host(&dns, |_| {}).await;
    let (_, end) = send(&h, "helo.test", "a@fail.test", &message("a@fail.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    assert!(results(&stored(&h, "INBOX").await[0]).contains("spf=fail"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reject_is_refused_and_quarantine_goes_to_junk() {
    let dns = TestDns::start(
        Records::new()
            .txt("strict.test", "v=spf1 ip4:192.0.2.1 -all")
            .txt("_dmarc.strict.test", "v=DMARC1; p=reject")
            .txt("careful.test", "v=spf1 ip4:192.0.2.1 -all")
            .txt("_dmarc.careful.test", "v=DMARC1; p=quarantine")
            .txt("relaxed.test", "v=spf1 ip4:192.0.2.1 -all")
            .txt("_dmarc.relaxed.test", "v=DMARC1; p=none"),
    )
    .await;
    let h = host(&dns, |_| {}).await;
    let (_, end) = send(&h, "mx.test", "a@strict.test", &message("a@strict.test")).await;
    assert_eq!(
        end,
        "550 5.7.1 rejected per the DMARC policy of strict.test\r\n"
    );
    let (_, end) = send(&h, "mx.test", "a@careful.test", &message("a@careful.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    let (_, end) = send(&h, "mx.test", "a@relaxed.test", &message("a@relaxed.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    let junk = stored(&h, "Junk").await;
    assert_eq!(junk.len(), 1, "quarantined");
    let r = results(&junk[0]);
    assert!(r.contains("dmarc=fail"), "{r}");
    assert!(r.contains("policy.dmarc=quarantine"), "{r}");
    let inbox = stored(&h, "INBOX").await;
    assert_eq!(inbox.len(), 1, "p=none is delivered");
    assert!(results(&inbox[0]).contains("header.from=relaxed.test"));

    // dmarc = "tag": recorded, not applied
    let h = host(&dns, |c| c.trust.dmarc = estafeta_config::DmarcAction::Tag).await;
    let (_, end) = send(&h, "mx.test", "a@strict.test", &message("a@strict.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    assert!(results(&stored(&h, "INBOX").await[0]).contains("dmarc=fail"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aligned_dkim_signature_passes_dmarc_reject() {
    let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap();
    let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
    let dns = TestDns::start(
        Records::new()
            .txt("signed.test", "v=spf1 -all")
            .txt("_dmarc.signed.test", "v=DMARC1; p=reject")
            .txt(
                "s1._domainkey.signed.test",
                &format!("v=DKIM1; k=ed25519; p={public}"),
            ),
    )
    .await;
    let h = host(&dns, |_| {}).await;
    let body = message("a@signed.test");
    let signature = DkimSigner::from_key(key)
        .domain("signed.test")
        .selector("s1")
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(body.as_bytes())
        .unwrap()
        .to_header();
    // forwarded through a list that rewrote the envelope: SPF fails, DKIM carries it
    let signed = format!("{signature}{body}");
    let (_, end) = send(&h, "list.test", "bounces@list.test", &signed).await;
    assert!(end.starts_with("250 "), "{end}");
    let r = results(&stored(&h, "INBOX").await[0]);
    assert!(
        r.contains("dkim=pass header.d=signed.test header.s=s1"),
        "{r}"
    );
    assert!(r.contains("dmarc=pass"), "{r}");

    // the same signature over a changed body fails, and p=reject applies
    let tampered = signed.replace("Hello.", "Pay me.");
    let (_, end) = send(&h, "list.test", "bounces@list.test", &tampered).await;
    assert!(end.starts_with("550 5.7.1 "), "{end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_domain_from_outside_must_authenticate() {
    // example.com publishes no DMARC record at all: it is ours all the same
    let dns = TestDns::start(Records::new().txt("outside.test", "v=spf1 +all")).await;
    let h = host(&dns, |_| {}).await;
    let (_, end) = send(
        &h,
        "outside.test",
        "x@outside.test",
        &message("boss@example.com"),
    )
    .await;
    assert_eq!(
        end,
        "550 5.7.1 example.com is a domain of this server: its mail must be authenticated (DMARC)\r\n"
    );
    // nor does hiding it among other From: addresses help
    let two = message("a@outside.test, boss@example.com");
    let (_, end) = send(&h, "outside.test", "x@outside.test", &two).await;
    assert!(end.starts_with("550 5.7.1 example.com "), "{end}");
    assert!(stored(&h, "INBOX").await.is_empty());

    // our own users submitting are not checked (and not refused)
    let h = host(&dns, |c| {
        c.smtp.trusted_networks = vec!["127.0.0.1/32".into()]
    })
    .await;
    let (_, end) = send(
        &h,
        "outside.test",
        "boss@example.com",
        &message("boss@example.com"),
    )
    .await;
    assert!(end.starts_with("250 "), "{end}");
    assert!(!stored(&h, "INBOX").await[0].contains("Authentication-Results: mail.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_results_in_our_name_are_removed() {
    let dns = TestDns::start(Records::new().txt("outside.test", "v=spf1 ip4:127.0.0.1 -all")).await;
    let h = host(&dns, |_| {}).await;
    let forged = format!(
        "Authentication-Results: mail.test; dkim=pass header.d=bank.test; dmarc=pass\r\n\
         Authentication-Results: MAIL.TEST;\r\n\tspf=pass\r\n\
         Authentication-Results: elsewhere.test; spf=none\r\n{}",
        message("a@outside.test")
    );
    let (_, end) = send(&h, "outside.test", "a@outside.test", &forged).await;
    assert!(end.starts_with("250 "), "{end}");
    let m = &stored(&h, "INBOX").await[0];
    assert_eq!(
        m.to_ascii_lowercase()
            .matches("authentication-results: mail.test")
            .count(),
        1,
        "{m}"
    );
    assert!(!m.contains("bank.test"), "{m}");
    assert!(m.contains("Authentication-Results: elsewhere.test; spf=none"));
    assert!(results(m).contains("spf=pass"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_that_never_answers_is_a_temporary_error_never_a_pass() {
    // a DNS server that reads queries and answers none
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let h = MailHost::start(&[TestUser(BOB, "pw", true)], &[], |c| {
        c.trust.checks = true;
        c.trust.timeout = 1;
        c.trust.spf_fail = SpfFail::Reject;
        c.delivery.dns_servers = vec![addr.to_string()];
    })
    .await;
    let (rcpt, _) = send(&h, "mx.test", "a@outside.test", &message("a@outside.test")).await;
    assert!(
        rcpt.starts_with("451 4.7.5 SPF of outside.test could not be checked"),
        "{rcpt}"
    );
    let h = MailHost::start(&[TestUser(BOB, "pw", true)], &[], |c| {
        c.trust.checks = true;
        c.trust.timeout = 1;
        c.delivery.dns_servers = vec![addr.to_string()];
    })
    .await;
    // under the default (tag) the message is accepted, with temporary errors only…
    let (_, end) = send(&h, "mx.test", "a@outside.test", &message("a@outside.test")).await;
    assert!(end.starts_with("250 "), "{end}");
    let r = results(&stored(&h, "INBOX").await[0]);
    assert!(r.contains("spf=temperror"), "{r}");
    assert!(!r.contains("=pass"), "{r}");
    // …but mail in our own name is deferred, not taken on trust
    let (_, end) = send(
        &h,
        "mx.test",
        "a@outside.test",
        &message("boss@example.com"),
    )
    .await;
    assert!(end.starts_with("451 4.7.5 "), "{end}");
    drop(silent);
}

/// A message of ours, signed with the store's keys of its domain, and how independent
/// verifiers see it: mail-auth over the DNS server, and Debian's python3-dkim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_mail_is_signed_with_both_keys_and_verifies_elsewhere() {
    use estafeta_trust::signing::{Algorithm, dns_record, generate};
    let mut keys = Vec::new();
    for (algorithm, selector) in [(Algorithm::Rsa, "r1"), (Algorithm::Ed25519, "e1")] {
        let made = generate(algorithm).unwrap();
        keys.push(estafeta_store::NewDkimKey {
            domain: "example.com".into(),
            selector: selector.into(),
            algorithm: algorithm.name().into(),
            private_key: made.private_key,
            public_key: made.public_key,
        });
    }
    let h = MailHost::start(
        &[
            TestUser(BOB, "pw", true),
            TestUser("ann@example.com", "pw", true),
        ],
        &[],
        |c| c.smtp.trusted_networks = vec!["127.0.0.1/32".into()],
    )
    .await;
    let mut records = Records::new();
    let mut python_records = String::new();
    for key in keys {
        let stored = h.store.add_dkim_key(key).await.unwrap();
        let (name, value) = dns_record(&stored);
        records = records.txt(&name, &value);
        python_records.push_str(&format!("{:?}: {:?},\n", format!("{name}."), value));
    }
    let dns = TestDns::start(records).await;

    let body = "From: Bob <bob@example.com>\r\nTo: ann@example.com\r\nSubject: signed\r\n\r\nHello, Ann.\r\n";
    estafeta_net::testing::smtp_send(h.smtp, BOB, "ann@example.com", body).await;
    // a From: of a domain that is not the sender's is not signed in its name
    let other =
        "From: someone@elsewhere.test\r\nTo: ann@example.com\r\nSubject: not ours\r\n\r\nx\r\n";
    estafeta_net::testing::smtp_send(h.smtp, BOB, "ann@example.com", other).await;
    let inbox = estafeta_testkit::inbox(&*h.store, "ann@example.com").await;
    assert_eq!(inbox.len(), 2);
    let signed = String::from_utf8(inbox[0].clone()).unwrap();
    assert_eq!(signed.matches("DKIM-Signature:").count(), 2, "{signed}");
    assert!(signed.contains("a=ed25519-sha256"), "{signed}");
    assert!(signed.contains("a=rsa-sha256"), "{signed}");
    let unfolded = signed.replace("\r\n\t", " ").replace("\r\n ", " ");
    let h_tag = unfolded
        .split("h=")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .unwrap()
        .to_ascii_lowercase()
        .replace(' ', "");
    assert!(
        h_tag.matches("from").count() == 2 && h_tag.matches("subject").count() == 2,
        "From and Subject oversigned: {h_tag}"
    );
    assert!(!String::from_utf8_lossy(&inbox[1]).contains("DKIM-Signature:"));

    // mail-auth, over the DNS server
    let auth = mail_auth::MessageAuthenticator(dns.resolver());
    let parsed = mail_auth::AuthenticatedMessage::parse(&inbox[0]).unwrap();
    let results = auth.verify_dkim(&parsed).await;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(*r.result(), mail_auth::DkimResult::Pass, "{r:?}");
    }

    // python3-dkim (Debian), with the same records
    let file = h.dir.path().join("signed.eml");
    std::fs::write(&file, &inbox[0]).unwrap();
    let script = format!(
        "import dkim, sys\n\
         records = {{\n{python_records}}}\n\
         def dns(name, timeout=5):\n    return records.get(name.decode()).encode()\n\
         m = open({file:?}, 'rb').read()\n\
         d = dkim.DKIM(m)\n\
         print([d.verify(idx=i, dnsfunc=dns) for i in range(2)])\n",
        file = file.display().to_string()
    );
    let out = tokio::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("/usr/bin/python3 with python3-dkim (apt install python3-dkim)");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        printed.trim(),
        "[True, True]",
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Messages built to make the checks expensive: thousands of DKIM signatures (each would be
/// a DNS lookup), malformed ones, thousands of From: addresses hiding one of ours, a
/// megabyte of forged results. Each is answered (the checks are bounded) and the server
/// goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_a_bounded_check() {
    let dns = TestDns::start(Records::new().txt("outside.test", "v=spf1 ip4:127.0.0.1 -all")).await;
    let h = host(&dns, |c| c.smtp.max_message_size = 20 << 20).await;
    let bound = std::time::Duration::from_secs(30);
    let mut signatures = String::new();
    for i in 0..3000 {
        signatures.push_str(&format!(
            "DKIM-Signature: v=1; a=rsa-sha256; d=d{i}.test; s=s{i}; c=relaxed/relaxed; h=from; bh=AAAA; b=AAAA\r\n"
        ));
    }
    for i in 0..3000 {
        signatures.push_str(&format!("DKIM-Signature: v=1; broken {i}\r\n"));
    }
    let many = format!("{signatures}{}", message("a@outside.test"));
    let (_, end) = tokio::time::timeout(bound, send(&h, "outside.test", "a@outside.test", &many))
        .await
        .expect("answered within the bound");
    assert!(end.starts_with("250 "), "{end}");
    let first = &stored(&h, "INBOX").await[0];
    let r = results(first);
    assert!(
        r.matches("dkim=").count() <= 16,
        "at most 8 verified and 8 malformed: {r}"
    );

    let mut froms: Vec<String> = (0..3000).map(|i| format!("u{i}@o{i}.test")).collect();
    froms.push("boss@example.com".into());
    let crowd = message(&froms.join(",\r\n "));
    let (_, end) = tokio::time::timeout(bound, send(&h, "outside.test", "a@outside.test", &crowd))
        .await
        .expect("answered within the bound");
    assert!(end.starts_with("550 5.7.1 example.com "), "{end}");

    let folded = vec!["x".repeat(900); 1200].join("\r\n\t");
    let forged = format!(
        "Authentication-Results: mail.test; dkim=pass\r\n\t{folded}\r\n{}",
        message("a@outside.test")
    );
    let (_, end) = tokio::time::timeout(bound, send(&h, "outside.test", "a@outside.test", &forged))
        .await
        .expect("answered within the bound");
    assert!(end.starts_with("250 "), "{end}");
    let last = stored(&h, "INBOX").await.pop().unwrap();
    assert!(
        last.len() < 10_000,
        "the forged field is gone: {} octets",
        last.len()
    );
    // and the server still serves
    let (_, end) = send(
        &h,
        "outside.test",
        "a@outside.test",
        &message("a@outside.test"),
    )
    .await;
    assert!(end.starts_with("250 "), "{end}");
}

/// An alias that forwards mail from outside to an outside address: the copy leaves with an
/// SRS sender of our domain (the local copy keeps the original Return-Path) and an ARC
/// seal that verifies, a bounce to that address from anyone goes back to the original
/// sender, and a forged or tampered SRS address is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_mail_leaves_with_srs_and_its_bounce_goes_home() {
    use estafeta_trust::signing::{Algorithm, dns_record, generate};
    let made = generate(Algorithm::Rsa).unwrap();
    let key = estafeta_store::NewDkimKey {
        domain: "example.com".into(),
        selector: "arc1".into(),
        algorithm: "rsa".into(),
        private_key: made.private_key,
        public_key: made.public_key.clone(),
    };
    let dns = TestDns::start(
        Records::new()
            .txt("outside.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt(
                "arc1._domainkey.example.com",
                &format!("v=DKIM1; k=rsa; p={}", made.public_key),
            ),
    )
    .await;
    let h = host(&dns, |_| {}).await;
    let stored_key = h.store.add_dkim_key(key).await.unwrap();
    assert_eq!(dns_record(&stored_key).0, "arc1._domainkey.example.com");
    h.store
        .add_alias("fwd@example.com", &[BOB.into(), "far@remote.test".into()])
        .await
        .unwrap();
    let mut c = LineClient::plain(h.smtp).await;
    c.smtp_reply().await;
    c.send("EHLO outside.test\r\n").await;
    c.smtp_reply().await;
    for line in [
        "MAIL FROM:<Alice@outside.test>",
        "RCPT TO:<fwd@example.com>",
        "DATA",
    ] {
        let r = c.cmd(line).await;
        assert!(r.starts_with('2') || r.starts_with('3'), "{line}: {r}");
    }
    c.send(&message("Alice@outside.test")).await;
    assert!(c.cmd(".").await.starts_with("250 "));
    let queued = h.store.queue_list().await.unwrap();
    assert_eq!(queued.len(), 1);
    let srs = queued[0].sender.clone();
    assert!(srs.starts_with("SRS0="), "{srs}");
    assert!(srs.ends_with("=outside.test=Alice@example.com"), "{srs}");
    assert!(stored(&h, "INBOX").await[0].starts_with("Return-Path: <Alice@outside.test>\r\n"));
    // sealed in example.com's name: the chain verifies at the next hop
    let body = h.store.queue_body(&queued[0].id).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("ARC-Seal: i=1; a=rsa-sha256;"), "{text}");
    assert!(
        text.contains("ARC-Authentication-Results: i=1; mail.test;"),
        "{text}"
    );
    let auth = mail_auth::MessageAuthenticator(dns.resolver());
    let parsed = mail_auth::AuthenticatedMessage::parse(&body).unwrap();
    let arc = auth.verify_arc(&parsed).await;
    assert_eq!(*arc.result(), mail_auth::DkimResult::Pass, "{text}");

    // the remote server's bounce, to the SRS address, from the null sender
    let bounce = |rcpt: String| async move {
        let mut c = LineClient::plain(h.smtp).await;
        c.smtp_reply().await;
        c.send("EHLO remote.test\r\n").await;
        c.smtp_reply().await;
        assert!(c.cmd("MAIL FROM:<>").await.starts_with("250"));
        c.cmd(&format!("RCPT TO:<{rcpt}>")).await
    };
    let r = bounce(srs.clone()).await;
    assert!(r.starts_with("250"), "{r}");
    let r = bounce(srs.to_ascii_lowercase()).await;
    assert!(r.starts_with("250"), "relays may change case: {r}");
    let tampered = srs.replace("=outside.test=Alice@", "=victim.test=Alice@");
    assert_eq!(
        bounce(tampered.clone()).await,
        format!(
            "550 5.1.1 <{tampered}>: Recipient address rejected: SRS address not made here\r\n"
        )
    );
    let made_up = "SRS0=ABCDEF=AA=victim.test=x@example.com".to_string();
    assert!(bounce(made_up).await.starts_with("550 5.1.1 "));

    // and the bounce is queued for the original sender
    let mut c = LineClient::plain(h.smtp).await;
    c.smtp_reply().await;
    c.send("EHLO remote.test\r\n").await;
    c.smtp_reply().await;
    for line in ["MAIL FROM:<>", &format!("RCPT TO:<{srs}>"), "DATA"] {
        let r = c.cmd(line).await;
        assert!(r.starts_with('2') || r.starts_with('3'), "{line}: {r}");
    }
    c.send("From: MAILER-DAEMON@remote.test\r\nSubject: Undelivered\r\n\r\nsorry\r\n")
        .await;
    assert!(c.cmd(".").await.starts_with("250 "));
    let queued = h.store.queue_list().await.unwrap();
    let back = queued
        .iter()
        .find(|m| m.sender.is_empty())
        .expect("the bounce");
    // (the queue keeps addresses in lower case, as it keeps every address)
    assert_eq!(back.recipients[0].address, "alice@outside.test");
}
