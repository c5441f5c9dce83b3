//! Why a connection or a transaction did not get as far as a reply per recipient: the
//! connection-level failures (refused, timed out, dropped, garbage on the wire, TLS) and
//! the replies that end a session (a greeting other than 220, EHLO and HELO refused, AUTH
//! refused). Every stage is named, so the delivery log can say where it stopped.

use std::fmt;
use std::io;

use super::reply::Reply;

/// Where in the session something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    TlsHandshake,
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Rset,
    Mail,
    Rcpt,
    Data,
    /// Writing the message (DATA or BDAT).
    DataBlock,
    /// Waiting for the reply after the message.
    DataEnd,
    Quit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::TlsHandshake => "TLS handshake",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::Helo => "HELO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::Rset => "RSET",
            Stage::Mail => "MAIL",
            Stage::Rcpt => "RCPT",
            Stage::Data => "DATA",
            Stage::DataBlock => "message transfer",
            Stage::DataEnd => "end of message",
            Stage::Quit => "QUIT",
        })
    }
}

/// A failure that is not a reply to one recipient. Everything but
/// [`Error::Rejected`] with a 5xx reply is temporary: the recipients of the transaction
/// are deferred, none failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection: refused, unreachable, or the connect timeout ran out.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// The server did not answer within the stage's timeout.
    #[error("timeout during {0}")]
    Timeout(Stage),
    /// The connection broke (reset, or closed by the server).
    #[error("connection lost during {stage}: {error}")]
    Io { stage: Stage, error: io::Error },
    /// The server sent something that is not an SMTP reply.
    #[error("protocol error during {stage}: {detail}")]
    Protocol { stage: Stage, detail: String },
    /// The server's reply ends the session here (greeting, EHLO/HELO, STARTTLS when
    /// required, AUTH, RSET).
    #[error("{stage} refused: {reply}")]
    Rejected { stage: Stage, reply: Reply },
    /// TLS could not be used: the handshake failed, the certificate was refused, or the
    /// policy requires TLS and the server does not offer it.
    #[error("TLS: {0}")]
    Tls(String),
    /// Credentials were not sent: the server offers no mechanism we have, or the
    /// connection is not encrypted and plaintext AUTH is not allowed.
    #[error("AUTH: {0}")]
    Auth(String),
    /// An earlier failure left this connection unusable.
    #[error("the connection is no longer usable after an earlier failure")]
    Unusable,
}

impl Error {
    /// The server's reply, for the delivery log and the bounce.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }

    /// True only for a 5xx that ends the session (greeting, EHLO and HELO, AUTH): the same
    /// host will say the same next time. Everything else is worth another try.
    pub fn is_permanent(&self) -> bool {
        self.reply().is_some_and(Reply::is_permanent)
    }

    pub(crate) fn closed(stage: Stage) -> Error {
        Error::Io {
            stage,
            error: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ),
        }
    }
}
