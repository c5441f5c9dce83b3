//! `SqlStore`: the [`Store`] of both engines. It owns the database handle, the group
//! committer and the change-notification listener. Each of the store's traits is
//! implemented for it in the module that holds its SQL: `Directory` in `directory.rs`,
//! `Suppressions` in `suppression.rs`, `DkimKeys` in `dkim_keys.rs`, `Mailboxes` in `mailbox.rs`, `Folders` in
//! `folders.rs`, `Messages` in `messages.rs`, `Queue` in `queue.rs`, `Changes` in
//! `notify.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::accept::Committer;
use crate::api::Store;
use crate::engine::{Db, Kind, StoreOptions};
use crate::error::Result;

pub struct SqlStore {
    pub(crate) db: Arc<Db>,
    pub(crate) committer: Committer,
    /// Set once the LISTEN connection runs (see `notify.rs`): on PostgreSQL, the pool of
    /// one connection it lives in, closed with the store.
    pub(crate) listening: OnceCell<Option<sqlx::PgPool>>,
}

impl SqlStore {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(options: &StoreOptions) -> Result<SqlStore> {
        let db = Arc::new(Db::open(options).await?);
        let committer = Committer::start(db.clone());
        Ok(SqlStore {
            db,
            committer,
            listening: OnceCell::new(),
        })
    }
}

#[async_trait]
impl Store for SqlStore {
    fn engine_name(&self) -> &'static str {
        match self.db.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    async fn close(&self) {
        // the LISTEN connection first: its task lets go of it when its pool closes
        if let Some(Some(listen)) = self.listening.get() {
            listen.close().await;
        }
        self.db.pool.close().await;
    }
}
