//! SMTP for estafeta. `inbound` is the server of ports 25, 587, 465 and 2525: the session
//! state machine, its policy (relay, sender ownership, limits) and acceptance into the
//! Store. `outbound` is the client that delivery uses to hand messages to the next hop.
//! `hops` counts `Received:` fields, for the loop limit both sides apply.

pub mod hops;
pub mod inbound;
pub mod outbound;

pub use inbound::SmtpServer;
pub use outbound::SmtpClient;
