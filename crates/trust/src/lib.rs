//! What estafeta believes about mail, around the `mail-auth` crate over our DNS resolver:
//! the checks of mail from outside (SPF of the HELO name and MAIL FROM, DKIM signatures,
//! the ARC chain, DMARC with alignment) and the one `Authentication-Results:` field that
//! reports them (`checks`); what a result does under the operator's policy (`policy`); and
//! removing `Authentication-Results:` fields from outside that claim to be ours
//! (`forged`); the rows of DMARC aggregate reports (`dmarc_report`); and for mail going out, the MTA-STS policies of recipient domains
//! (`mta_sts`), their DANE records (`dane`) and the TLS reports owed to them
//! (`tls_report`). The SMTP session decides *when* each runs; this crate decides *what* they
//! say. Nothing here knows SMTP replies' wire form or the store.

mod checks;
pub mod dane;
pub mod dmarc_report;
mod forged;
pub mod https;
pub mod mta_sts;
mod policy;
mod record_cache;
mod resolver;
pub mod signing;
mod signing_key;
pub mod srs;
pub mod tls_report;
pub mod tracking;

pub use checks::{Checker, MessageResults, Sent, SpfCheck, SpfResults, SpfVerdict, spf_of};
pub use forged::remove_forged_results;
pub use policy::{Action, at_data, at_rcpt};
pub use resolver::{dns_only_resolver, resolver};
