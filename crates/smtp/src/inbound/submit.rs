//! A message handed over by another of our protocols for a signed-in user (JMAP's
//! EmailSubmission), through exactly what a client of port 587 meets: the sender check
//! and rate limits of MAIL (`sender`), the verdict of each RCPT (`recipients`), the content
//! rules of DATA (`data::Checker`) and the assembly and durable store (`assembly`), as a
//! submission session logged in as that user from the HTTP client's address. The answer
//! is the SMTP reply the session would have given, so callers report the same codes.

use std::net::IpAddr;

use estafeta_store::User;
use smtp_proto::{MAIL_SMTPUTF8, MailFrom, RcptTo};

use super::SmtpState;
use super::client::Client;
use super::data::Checker;
use super::{assembly, recipients, sender};

/// What the other protocol hands over.
pub struct Handover<'a> {
    pub user: &'a User,
    /// The client's address, written in our `Received:` field.
    pub ip: IpAddr,
    /// The protocol named as the HELO of the `Received:` field (`jmap`).
    pub via: &'a str,
    /// TLS version and cipher of the client's connection, when it is encrypted.
    pub tls: Option<&'a (String, String)>,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub message: Vec<u8>,
}

/// The message stored for delivery: its queue id and the 250 reply; or the reply that
/// refused it (at the sender, at the first refused recipient, or at the data).
pub async fn submit(shared: &SmtpState, h: Handover<'_>) -> Result<(String, String), String> {
    let client = Client {
        ip: h.ip,
        helo: Some(h.via),
        esmtp: true,
        tls: h.tls,
        user: Some(h.user),
        submission: true,
    };
    let smtputf8 =
        !h.sender.is_ascii() || h.recipients.iter().any(|r| !r.is_ascii()) || !h.message.is_ascii();
    let from = MailFrom {
        address: h.sender.to_string(),
        flags: if smtputf8 { MAIL_SMTPUTF8 } else { 0 },
        size: h.message.len(),
        ..Default::default()
    };
    let mut envelope = sender::accept(shared, &client, from).await?;
    if h.recipients.is_empty() {
        return Err("554 5.5.1 Error: no valid recipients".into());
    }
    if h.recipients.len() > shared.settings.smtp.max_recipients as usize {
        return Err("452 4.5.3 Error: too many recipients".into());
    }
    for rcpt in h.recipients {
        let to = RcptTo {
            address: rcpt.clone(),
            ..Default::default()
        };
        let verdict = recipients::judge(shared, &client, &envelope, to).await;
        envelope.take(rcpt.clone(), verdict)?;
    }
    let max = shared.settings.smtp.max_message_size as usize;
    let mut check = Checker::default();
    check.feed(&h.message);
    if let Some(reply) = check.finish().refusal(max) {
        return Err(reply);
    }
    if h.message.len() > max {
        return Err(format!(
            "552 5.3.4 Message size exceeds fixed maximum message size ({max} octets)"
        ));
    }
    let id = envelope.id.clone();
    let mut spool = shared.spool();
    spool.push(&h.message).await;
    let reply = assembly::store(shared, &client, envelope, spool).await?;
    Ok((id, reply))
}
