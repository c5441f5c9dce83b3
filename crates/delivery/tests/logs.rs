//! The delivery log: every attempt logs a line per recipient under the message's queue
//! id, with the host, the TLS version, the status and the reply (a binary of its own: the
//! subscriber that captures the lines is global).

mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use common::*;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Action, Script, ScriptedSmtp};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_logs_queue_id_host_tls_status_and_reply() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let host = ScriptedSmtp::start_on(
        "127.0.0.2:0".parse().unwrap(),
        Script {
            starttls: true,
            ..Script::new().on(|c| {
                (c.verb == "RCPT" && c.arg.contains("<later@"))
                    .then(|| Action::Reply("451 4.3.0 not now".into()))
            })
        },
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("log.test", Ipv4Addr::new(127, 0, 0, 2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    let id = s
        .queue(ANN, &["now@log.test", "later@log.test"], "logged")
        .await;
    wait_messages(&host, 1).await;
    let text = wait_for("the delivery lines", || {
        let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        std::future::ready(text.contains("status=\"deferred\"").then_some(text))
    })
    .await;
    let line = |status: &str| {
        text.lines()
            .find(|l| l.contains(&format!("status=\"{status}\"")))
            .unwrap_or_else(|| panic!("no {status} line in:\n{text}"))
            .to_string()
    };
    let sent = line("sent");
    for want in [
        format!("delivery{{queue_id={id}}}"),
        "to=now@log.test".to_string(),
        "relay=\"mx.log.test[127.0.0.2]:".to_string(),
        "tls=\"TLSv1.3\"".to_string(),
        "reply=250 2.0.0 queued as SCRIPTED".to_string(),
        "attempt=1".to_string(),
    ] {
        assert!(sent.contains(&want), "{want} missing from: {sent}");
    }
    let deferred = line("deferred");
    assert!(deferred.contains(&format!("queue_id={id}")), "{deferred}");
    assert!(deferred.contains("reply=451 4.3.0 not now"), "{deferred}");
    // the SMTP client's own lines sit under the same queue id
    assert!(
        text.lines().any(
            |l| l.contains(&format!("delivery{{queue_id={id}}}:smtp_out{{"))
                && l.contains("session opened")
        ),
        "{text}"
    );
}
