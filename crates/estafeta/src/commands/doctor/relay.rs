//! Our own SMTP listeners tried as a stranger would: an `smtp` listener must refuse to
//! relay (MAIL from and RCPT to foreign domains), and a `submission` listener must refuse
//! MAIL before AUTH and must not offer AUTH before TLS (unless
//! `auth.allow_plaintext_on_loopback` explains it). From here we connect from loopback or
//! our own address: when `smtp.trusted_networks` contains it, the relay test proves
//! nothing and is skipped.

use std::net::IpAddr;

use estafeta_config::{Config, Listener, ListenerTls, Protocol};
use estafeta_net::Networks;

use super::Report;
use super::listeners::{Client, label, open_smtp, target};

pub async fn check(config: &Config, budget: &super::Budget, report: &mut Report) {
    let host = config.hostname.trim_end_matches('.').to_ascii_lowercase();
    let trusted = Networks::parse(&config.smtp.trusted_networks);
    for l in &config.listeners {
        if l.port == 0 {
            continue;
        }
        let (name, outcome) = match l.protocol {
            Protocol::Smtp => (
                format!("open relay {}", label(l)),
                budget.within(relay(l, &host, &trusted, report)).await,
            ),
            Protocol::Submission => (
                format!("auth required {}", label(l)),
                budget.within(auth_required(config, l, &host, report)).await,
            ),
            _ => continue,
        };
        if let Err(why) = outcome {
            report.skip(&name, why);
        }
    }
}

/// The address the server sees us connect from: loopback for a loopback (or wildcard)
/// listener, else the listener's own address.
fn source(l: &Listener) -> IpAddr {
    target(l).ip()
}

async fn relay(l: &Listener, host: &str, trusted: &Networks, report: &mut Report) {
    let name = format!("open relay {}", label(l));
    let from = source(l);
    if trusted.contains(from) {
        return report.skip(
            &name,
            format!(
                "inconclusive from here: {from} is in smtp.trusted_networks, which may relay; \
                 test from outside (e.g. a relay-test service)"
            ),
        );
    }
    let outcome = async {
        let mut client = open_smtp(l, host).await?;
        client.command("EHLO doctor.invalid").await?;
        let (code, text) = client.command("MAIL FROM:<doctor@example.invalid>").await?;
        if code / 100 != 2 {
            return Ok((code, format!("MAIL refused: {text}")));
        }
        let (code, text) = client.command("RCPT TO:<doctor@example.net>").await?;
        let _ = client.command("QUIT").await;
        Ok::<_, String>((code, text))
    }
    .await;
    match outcome {
        Err(e) => report.skip(&name, e),
        Ok((code, text)) if code / 100 == 5 => report.ok(
            &name,
            format!("relaying from {from} to example.net refused: {text}"),
        ),
        Ok((code, text)) if code / 100 == 2 => report.fail(
            &name,
            format!("OPEN RELAY: mail from {from} to example.net accepted: {text}"),
            "remove the networks that are not yours from smtp.trusted_networks, and restart",
        ),
        Ok((_, text)) => report.warn(
            &name,
            format!("relaying only refused for now (a temporary reply): {text}"),
            "a 4xx reply invites the sender to try again; see the server's log for why",
        ),
    }
}

async fn auth_required(config: &Config, l: &Listener, host: &str, report: &mut Report) {
    let name = format!("auth required {}", label(l));
    let from = source(l);
    let outcome = async {
        let mut client: Client = open_smtp(l, host).await?;
        let (_, ehlo) = client.command("EHLO doctor.invalid").await?;
        let auth_offered = ehlo.split(" | ").any(|line| {
            line.get(4..)
                .is_some_and(|k| k.to_ascii_uppercase().starts_with("AUTH"))
        });
        let (code, text) = client.command("MAIL FROM:<doctor@example.invalid>").await?;
        let _ = client.command("QUIT").await;
        Ok::<_, String>((auth_offered, code, text))
    }
    .await;
    match outcome {
        Err(e) => report.skip(&name, e),
        Ok((_, code, text)) if code / 100 == 2 => report.fail(
            &name,
            format!("MAIL without AUTH accepted: {text}"),
            "a submission listener must require AUTH: is it protocol = \"submission\"? is 127.0.0.1 in smtp.trusted_networks?",
        ),
        Ok((true, _, _)) if l.tls == ListenerTls::Starttls && !(config.auth.allow_plaintext_on_loopback && from.is_loopback()) => report.fail(
            &name,
            "AUTH is offered before STARTTLS: passwords could cross in clear",
            "set auth.allow_plaintext_on_loopback = false, and keep tls = \"starttls\" on this listener",
        ),
        Ok((offered, _, text)) => {
            let note = if offered && l.tls == ListenerTls::Starttls {
                "; AUTH offered before TLS only because auth.allow_plaintext_on_loopback and we connect from loopback"
            } else {
                ""
            };
            report.ok(&name, format!("MAIL before AUTH refused: {text}{note}"))
        }
    }
}
