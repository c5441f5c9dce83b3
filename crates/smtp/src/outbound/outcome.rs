//! The result of one transaction: the final reply for each recipient and what it means
//! for delivery (delivered, try again later, failed for good), and whether the DSN
//! parameters went on to the next hop.

use super::reply::Reply;

/// What became of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptStatus {
    /// The server took the message for this recipient (2xx after the message).
    Delivered,
    /// 4xx, or a reply that makes no sense at that point: try again later.
    TemporaryFailure,
    /// 5xx: do not try again; the sender gets a bounce.
    PermanentFailure,
}

impl RcptStatus {
    pub(crate) fn of(reply: &Reply) -> RcptStatus {
        if reply.is_positive() {
            RcptStatus::Delivered
        } else if reply.is_permanent() {
            RcptStatus::PermanentFailure
        } else {
            RcptStatus::TemporaryFailure
        }
    }
}

/// One recipient's final reply: the RCPT reply when RCPT failed (or the MAIL reply when
/// MAIL failed), else the reply after the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptOutcome {
    pub address: String,
    pub status: RcptStatus,
    pub reply: Reply,
}

/// How the message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Data,
    Bdat,
    /// Not at all: every recipient failed before (MAIL, RCPT, SIZE, SMTPUTF8).
    NotSent,
}

/// The outcome of [`SmtpClient::send`](super::SmtpClient::send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionOutcome {
    /// One per recipient, in the order given.
    pub recipients: Vec<RcptOutcome>,
    /// The server offers DSN, so NOTIFY/ORCPT/RET/ENVID went on with the message: the next
    /// hop reports success if asked. When false, delivery must send the "delivered" DSN
    /// for NOTIFY=SUCCESS itself (RFC 3461 §4.1 "relayed").
    pub dsn_passed: bool,
    pub transfer: Transfer,
    /// The reply after the message, e.g. `250 2.0.0 Ok: queued as …`, for the log.
    pub data_reply: Option<Reply>,
    /// Octets of the message as sent (after line-ending normalisation, before stuffing).
    pub size: usize,
}

impl TransactionOutcome {
    pub fn delivered(&self) -> impl Iterator<Item = &RcptOutcome> {
        self.with(RcptStatus::Delivered)
    }

    pub fn with(&self, status: RcptStatus) -> impl Iterator<Item = &RcptOutcome> {
        self.recipients.iter().filter(move |r| r.status == status)
    }
}
