//! The outbound SMTP client that delivery uses: one session with one server
//! ([`SmtpClient::connect`]: greeting, EHLO or HELO, opportunistic or required STARTTLS,
//! AUTH for smarthosts), then one transaction per message carrying all its recipients
//! there ([`SmtpClient::send`]: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING, DSN), a
//! final reply per recipient, RSET between messages, [`SmtpClient::quit`]. Timeouts follow
//! RFC 5321 §4.5.3.2; replies are parsed by smtp-proto.
//!
//! Logs go to a `smtp_out` span (remote address, host name) made inside the caller's
//! current span at each call, so a caller that instruments `connect` and `send` with a span
//! holding the queue id finds every line under it, message by message on a reused
//! connection.

mod auth;
mod body;
mod client;
mod conn;
mod error;
mod extensions;
mod message;
mod outcome;
mod reply;
mod settings;
mod transaction;

pub use body::{dot_stuff, has_8bit, normalize_line_endings};
pub use client::{ServerInfo, SmtpClient};
pub use conn::TlsInfo;
pub use error::{Error, Stage};
pub use extensions::Extensions;
pub use message::{Notify, OutboundMessage, Rcpt, Ret};
pub use outcome::{RcptOutcome, RcptStatus, TransactionOutcome, Transfer};
pub use reply::Reply;
pub use settings::{AuthMechanism, ClientSettings, Credentials, Timeouts, TlsPolicy};
