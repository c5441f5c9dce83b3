//! One module per command family; each turns arguments into Store calls and prints.

pub mod alias;
pub mod backup;
pub mod config;
pub mod dkim;
pub mod dns;
pub mod doctor;
pub mod domain;
pub mod export;
pub mod import;
pub mod import_imap;
pub mod import_mail;
pub mod queue;
pub mod sendmail;
pub mod serve;
pub mod sieve;
pub mod suppression;
pub mod user;
