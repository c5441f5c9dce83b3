//! The Store: everything estafeta keeps — the directory (domains, users, aliases),
//! message bodies, mailboxes, the outbound queue and what left through it — behind a few
//! traits by concern ([`Directory`], [`Suppressions`], [`DkimKeys`], [`TlsResults`], [`DmarcRecords`], [`Mailboxes`], [`Folders`],
//! [`Messages`], [`Queue`], [`Changes`], [`SearchIndex`]) gathered in one handle, [`Store`], on two
//! engines: SQLite (embedded, the default) and PostgreSQL (several nodes, one database).
//! Only this crate knows SQL. [`Envelope`] is where a resolved message becomes what the
//! store accepts.

mod accept;
pub mod address;
mod api;
pub mod backup;
mod blobs;
mod body_reader;
mod directory;
mod dkim_keys;
mod dmarc_records;
mod dsn_params;
mod engine;
mod envelope;
mod error;
mod flags;
mod folders;
mod logins;
mod mailbox;
mod messages;
mod metadata;
mod model;
mod notify;
mod password;
mod queue;
mod resolve;
mod scram_keys;
mod search;
mod sent;
mod shared_counts;
mod sieve;
mod sql_store;
pub mod stats;
mod suppression;
mod tls_results;
pub mod tracking;

use std::sync::Arc;

pub use api::{
    Changes, Directory, DkimKeys, DmarcRecords, Folders, Mailboxes, Messages, Metadata, Queue,
    SearchIndex, SharedCounts, SieveScripts, Store, Suppressions, TlsResults,
};
pub use directory::DEFAULT_FOLDERS;
pub use dsn_params::{Notify, Ret};
pub use engine::{Backend, StoreOptions};
pub use envelope::{Envelope, return_path};
pub use error::{Result, StoreError};
pub use flags::Flags;
pub use folders::SEPARATOR;
pub use model::*;
pub use scram_keys::ITERATIONS as SCRAM_ITERATIONS;
pub use search::{INDEX_BATCH, MAX_INDEXED_NEEDLE, index_in_background};
pub use sent::{MAX_LOOKUP_IDS, SENT_RETENTION_SECS};
pub use sql_store::SqlStore;
pub use stats::{DeliveryFailure, StatCount, StatEvent, Statistics};
pub use tracking::{TrackedClick, TrackedMessage, Tracking};

/// Opens the store described by `options`, running migrations.
pub async fn open(options: &StoreOptions) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::open(options).await?))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new queue id: time-ordered, unique enough to name one message in the logs
/// (16 upper-case hex digits: milliseconds, then 20 random bits).
pub fn new_queue_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let noise: u32 = rand::random::<u32>() & 0xF_FFFF;
    format!("{:011X}{:05X}", millis & 0xFFF_FFFF_FFFF, noise)
}

/// Reads a message body's hash as the store names it (for tests and tools).
pub fn body_hash(body: &[u8]) -> String {
    blobs::hash(body)
}
