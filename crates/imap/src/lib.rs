//! IMAP for estafeta. This crate holds the command syntax of IMAP4rev2 (RFC 9051) and
//! IMAP4rev1 (RFC 3501) with the extensions the server will offer (LITERAL+, ENABLE,
//! CONDSTORE/QRESYNC, UIDPLUS, MOVE, LIST-EXTENDED, LIST-STATUS, ESEARCH, QUOTA, ID,
//! SPECIAL-USE, OBJECTID, PREVIEW, SORT, THREAD, SEARCHRES, METADATA, NOTIFY). The parser is written by hand: no crate covers
//! IMAP4rev2 with CONDSTORE, and keeping it apart from the session lets it be fuzzed
//! alone. `server` serves the
//! `imap` listeners: IMAP4rev1, and IMAP4rev2 after ENABLE, with the extensions its
//! CAPABILITY announces.

mod address;
pub mod command;
pub mod framing;
pub mod mime;
mod notify;
mod parser;
mod pattern;
pub mod response;
mod search;
pub mod sequence;
mod server;
pub mod subject;
mod summary;
pub mod threading;

pub use command::*;
pub use parser::{ParseError, parse_command};
pub use sequence::{SeqRange, SequenceSet};
pub use server::ImapServer;
pub use summary::Summary;

#[cfg(test)]
mod tests;
