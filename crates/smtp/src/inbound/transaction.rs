//! The envelope of one SMTP transaction as it is built: the sender accepted at MAIL
//! (`super::sender`), then each recipient accepted at RCPT (`super::recipients`), until
//! the message is assembled and stored (`super::assembly`) or the transaction is reset.

use estafeta_store::{RemoteRecipient, Ret};

use super::quota::LocalRecipient;
use super::rates;
use super::recipients::Verdict;

pub struct Transaction {
    /// The queue id, written in our Received: field and in every log line.
    pub id: String,
    /// Empty for the null sender `<>`.
    pub sender: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    pub smtputf8: bool,
    /// The size announced with MAIL SIZE=, 0 when none.
    pub declared_size: u64,
    /// Recipients as the client gave them, accepted ones only.
    pub rcpts: Vec<String>,
    /// Local users that receive the message, with the recipient that brought each in
    /// (the room in their mailboxes is checked on the real size at the end of DATA).
    pub local: Vec<LocalRecipient>,
    pub remote: Vec<RemoteRecipient>,
    /// The sender's domain when it is one of ours, the session is our user's (logged in
    /// or from trusted_networks) and domain rate limits are on.
    pub rate_domain: Option<String>,
    /// The transaction's places in the rate limits: given back unless it is accepted.
    pub held: rates::Held,
    /// SPF of the sender, running since MAIL, for mail from outside when checks are on.
    pub spf: Option<estafeta_trust::SpfCheck>,
}

impl Transaction {
    /// Adds the recipient `rcpt` as its verdict says, or gives back the reply refusing it.
    pub fn take(&mut self, rcpt: String, verdict: Verdict) -> Result<(), String> {
        match verdict {
            Verdict::Refuse(reply) => return Err(reply),
            Verdict::Relay { recipient, held } => {
                self.add_remote(recipient);
                self.held.join(held);
            }
            Verdict::Local {
                users,
                forwards,
                held,
            } => {
                self.local.extend(users);
                for f in forwards {
                    self.add_remote(f);
                }
                self.held.join(held);
            }
        }
        self.rcpts.push(rcpt);
        Ok(())
    }

    /// Adds a remote recipient unless the envelope has it already (case-insensitively).
    pub fn add_remote(&mut self, recipient: RemoteRecipient) {
        if !self
            .remote
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&recipient.address))
        {
            self.remote.push(recipient);
        }
    }
}
