//! The Store: everything estafeta keeps — the directory (domains, users, aliases),
//! message bodies, mailboxes, the outbound queue and what left through it — behind a few
//! traits by concern ([`Directory`], [`Suppressions`], [`DkimKeys`], [`TlsResults`], [`DmarcRecords`], [`Mailboxes`], [`Folders`],
//! [`Messages`], [`Queue`], [`Changes`], [`SearchIndex`]) gathered in one handle, [`Store`], on two
//! engines: SQLite (embedded, the default) and PostgreSQL (several nodes, one database).
//! Only this crate knows SQL. [`Envelope`] is where a resolved message becomes what the
//! store accepts.

mod accept;
mod accept_embedded;
pub mod address;
mod api;
pub mod backup;
mod blobs;
mod body_reader;
mod directory;
mod dkim_keys;
mod dmarc_records;
mod dsn_params;
mod emails;
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
mod record_embedded;
mod resolve;
mod scram_keys;
mod search;
mod sent;
mod shared_counts;
mod sieve;
mod sql_store;
mod sqlite_writer;
pub mod stats;
mod suppression;
mod tls_results;
pub mod tracking;

use std::sync::Arc;

pub use api::{
    Changes, Directory, DkimKeys, DmarcRecords, Emails, Folders, Mailboxes, Messages, Metadata,
    Queue, SearchIndex, SharedCounts, SieveScripts, Store, Suppressions, TlsResults,
};
pub use directory::DEFAULT_FOLDERS;
pub use dsn_params::{Notify, Ret};
pub use emails::{UPLOAD_LIFETIME_SECS, Upload};
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

/// A new queue id: time-ordered, and never the same twice in one process
/// (20 upper-case hex digits: 44 bits of milliseconds, a 20-bit counter that starts at
/// random, and a 16-bit tag drawn at random once per process). Two ids of one process
/// differ unless it makes over a million in one millisecond; two processes (nodes,
/// `sendmail`) meet only with the same tag and their counters at the same value in the
/// same millisecond. (Before: milliseconds and 20 random bits, which met in a benchmark
/// at 1,700 messages/s: `UNIQUE constraint failed: queue_messages.id`, answered 451.)
pub fn new_queue_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    static TAG: OnceLock<u16> = OnceLock::new();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let count = COUNTER
        .get_or_init(|| AtomicU32::new(rand::random::<u32>()))
        .fetch_add(1, Ordering::Relaxed)
        & 0xF_FFFF;
    let tag = *TAG.get_or_init(rand::random::<u16>);
    format!("{:011X}{count:05X}{tag:04X}", millis & 0xFFF_FFFF_FFFF)
}

/// Reads a message body's hash as the store names it (for tests and tools).
pub fn body_hash(body: &[u8]) -> String {
    blobs::hash(body)
}

#[cfg(test)]
mod tests {
    use super::new_queue_id;

    /// Ids made as fast as four threads can: none twice (20 random bits per millisecond,
    /// as before, met hundreds of times here), each 20 upper-case hex digits, in time
    /// order by their first 11.
    #[test]
    fn queue_ids_never_meet_in_one_process() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..100_000).map(|_| new_queue_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for t in threads {
            let ids = t.join().expect("thread");
            assert!(ids.windows(2).all(|w| w[0][..11] <= w[1][..11]));
            for id in ids {
                assert_eq!(id.len(), 20, "{id}");
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
                    "{id}"
                );
                assert!(seen.insert(id.clone()), "{id} made twice");
            }
        }
    }
}
