//! Change notification — the store's [`Changes`]: who is told that a mailbox changed, and
//! that queue work is due. On SQLite the committing process broadcasts in memory (other
//! processes are not told: the CLI changes no mailbox contents a session watches). On
//! PostgreSQL every commit sends `NOTIFY`, and one `LISTEN` connection per process feeds
//! the same in-memory broadcast, so every node hears every node. Watchers should still
//! re-check now and then: a dropped LISTEN connection reconnects, but notifications sent
//! while it was down are lost.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, OnceCell, broadcast};

use crate::api::Changes;
use crate::engine::{Db, Kind};
use crate::error::{Result, StoreError};
use crate::model::MailboxChange;
use crate::sql_store::SqlStore;

pub const CHANNEL: &str = "estafeta_mailbox";
/// Queue work due now (payload empty): wakes every node's delivery scheduler.
pub const QUEUE_CHANNEL: &str = "estafeta_queue";

pub fn encode(change: MailboxChange) -> String {
    format!("{}:{}", change.user_id, change.mailbox_id)
}

pub fn decode(payload: &str) -> Option<MailboxChange> {
    let (user, mailbox) = payload.split_once(':')?;
    Some(MailboxChange {
        user_id: user.parse().ok()?,
        mailbox_id: mailbox.parse().ok()?,
    })
}

#[async_trait]
impl Changes for SqlStore {
    /// Starts the LISTEN connection (PostgreSQL) the first time someone subscribes.
    async fn subscribe(&self) -> Result<broadcast::Receiver<MailboxChange>> {
        listen(&self.db, &self.listening).await?;
        Ok(self.db.changes.subscribe())
    }

    /// The queue's wake-up signal, hearing other nodes too on PostgreSQL.
    async fn queue_signal(&self) -> Result<Arc<Notify>> {
        listen(&self.db, &self.listening).await?;
        Ok(self.db.queue_wake.clone())
    }
}

/// On PostgreSQL, one LISTEN connection per process for both channels, in a pool of its
/// own: closing that pool (with the store) ends the listening task, which hands the
/// connection back to be closed with PostgreSQL's goodbye.
async fn listen(db: &Db, listening: &OnceCell<Option<sqlx::PgPool>>) -> Result<()> {
    if db.kind == Kind::Postgres {
        listening
            .get_or_try_init(|| async {
                let url = db.url.clone().unwrap_or_default();
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect(&url)
                    .await?;
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen_all([CHANNEL, QUEUE_CHANNEL]).await?;
                let sender = db.changes.clone();
                let queue = db.queue_wake.clone();
                tokio::spawn(async move {
                    loop {
                        match listener.recv().await {
                            Ok(n) if n.channel() == QUEUE_CHANNEL => queue.notify_one(),
                            Ok(n) => {
                                if let Some(change) = decode(n.payload()) {
                                    let _ = sender.send(change);
                                }
                            }
                            // the store is closing
                            Err(sqlx::Error::PoolClosed) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
                Ok::<Option<sqlx::PgPool>, StoreError>(Some(pool))
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let c = MailboxChange {
            user_id: 7,
            mailbox_id: 42,
        };
        assert_eq!(decode(&encode(c)), Some(c));
        assert_eq!(decode("garbage"), None);
    }
}
