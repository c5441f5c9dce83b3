//! SMTP for estafeta. `inbound` is the server of ports 25, 587, 465 and 2525: the session
//! state machine, its policy (relay, sender ownership, limits) and acceptance into the
//! Store. The outbound client used by delivery will live beside it.

pub mod inbound;

pub use inbound::SmtpServer;
