//! `SqlStore`: the [`Store`] of both engines. It owns the database handle, the group
//! committer and the change-notification listener, and forwards each call to the module
//! that holds its SQL.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{OnceCell, broadcast};

use crate::accept::Committer;
use crate::api::Store;
use crate::engine::{Db, Kind, StoreOptions};
use crate::error::Result;
use crate::model::*;
use crate::notify;

pub struct SqlStore {
    db: Arc<Db>,
    committer: Committer,
    listening: OnceCell<()>,
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

    async fn add_domain(&self, name: &str) -> Result<Domain> {
        self.db.add_domain(name).await
    }
    async fn remove_domain(&self, name: &str) -> Result<()> {
        self.db.remove_domain(name).await
    }
    async fn list_domains(&self) -> Result<Vec<Domain>> {
        self.db.list_domains().await
    }
    async fn is_local_domain(&self, name: &str) -> Result<bool> {
        self.db.is_local_domain(name).await
    }
    async fn add_user(&self, user: NewUser) -> Result<User> {
        self.db.add_user(user).await
    }
    async fn remove_user(&self, address: &str) -> Result<()> {
        self.db.remove_user(address).await
    }
    async fn set_password(&self, address: &str, password: &str) -> Result<()> {
        self.db.set_password(address, password).await
    }
    async fn update_user(&self, address: &str, changes: UserChanges) -> Result<User> {
        self.db.update_user(address, changes).await
    }
    async fn get_user(&self, address: &str) -> Result<Option<User>> {
        self.db.get_user(address).await
    }
    async fn list_users(&self, domain: Option<&str>) -> Result<Vec<User>> {
        self.db.list_users(domain).await
    }
    async fn authenticate(&self, address: &str, password: &str) -> Result<Option<User>> {
        self.db.authenticate(address, password).await
    }
    async fn scram_secrets(&self, name: &str) -> Result<ScramSecrets> {
        self.db.scram_secrets(name).await
    }
    async fn add_alias(&self, address: &str, targets: &[String]) -> Result<()> {
        self.db.add_alias(address, targets).await
    }
    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<()> {
        self.db.remove_alias(address, target).await
    }
    async fn list_aliases(&self, domain: Option<&str>) -> Result<Vec<Alias>> {
        self.db.list_aliases(domain).await
    }
    async fn resolve(&self, address: &str) -> Result<Resolution> {
        self.db.resolve(address).await
    }
    async fn list_mailboxes(&self, user_id: i64) -> Result<Vec<Mailbox>> {
        self.db.list_mailboxes(user_id).await
    }
    async fn get_mailbox(&self, user_id: i64, name: &str) -> Result<Option<Mailbox>> {
        self.db.get_mailbox(user_id, name).await
    }
    async fn add_suppression(&self, domain: &str, address: &str, reason: &str) -> Result<()> {
        self.db.add_suppression(domain, address, reason).await
    }
    async fn add_suppressions(&self, entries: &[NewSuppression]) -> Result<()> {
        self.db.add_suppressions(entries).await
    }
    async fn sent_messages(
        &self,
        queue_ids: &[String],
        message_ids: &[String],
    ) -> Result<Vec<SentMessage>> {
        self.db.sent_messages(queue_ids, message_ids).await
    }
    async fn remove_suppression(&self, domain: &str, address: &str) -> Result<()> {
        self.db.remove_suppression(domain, address).await
    }
    async fn list_suppressions(&self, domain: Option<&str>) -> Result<Vec<Suppression>> {
        self.db.list_suppressions(domain).await
    }
    async fn set_suppression_enforced(&self, domain: &str, enforced: bool) -> Result<()> {
        self.db.set_suppression_enforced(domain, enforced).await
    }
    async fn enforced_suppression(
        &self,
        domain: &str,
        address: &str,
    ) -> Result<Option<Suppression>> {
        self.db.enforced_suppression(domain, address).await
    }
    async fn mailbox_by_id(&self, mailbox_id: i64) -> Result<Option<Mailbox>> {
        self.db.mailbox_by_id(mailbox_id).await
    }
    async fn read_summaries(&self, mailbox_id: i64, first: u32, last: u32) -> Result<Vec<Summary>> {
        self.db.read_summaries(mailbox_id, first, last).await
    }
    async fn save_summaries(&self, summaries: &[(String, Vec<u8>)]) -> Result<()> {
        self.db.save_summaries(summaries).await
    }
    async fn list_messages(&self, mailbox_id: i64) -> Result<Vec<MailboxEntry>> {
        self.db.list_messages(mailbox_id).await
    }
    async fn read_message(&self, mailbox_id: i64, uid: u32) -> Result<Option<Vec<u8>>> {
        self.db.read_message(mailbox_id, uid).await
    }
    async fn read_messages(
        &self,
        mailbox_id: i64,
        first: u32,
        last: u32,
    ) -> Result<Vec<(u32, Vec<u8>)>> {
        self.db.read_messages(mailbox_id, first, last).await
    }
    async fn set_flags(&self, mailbox_id: i64, uid: u32, flags: &str) -> Result<i64> {
        self.db.set_flags(mailbox_id, uid, flags).await
    }
    async fn expunge(&self, mailbox_id: i64, uids: &[u32]) -> Result<i64> {
        self.db.expunge(mailbox_id, uids).await
    }
    async fn create_mailbox(
        &self,
        user_id: i64,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<Mailbox> {
        self.db.create_mailbox(user_id, name, special_use).await
    }
    async fn rename_mailbox(&self, user_id: i64, from: &str, to: &str) -> Result<()> {
        self.db.rename_mailbox(user_id, from, to).await
    }
    async fn delete_mailbox(&self, user_id: i64, name: &str) -> Result<()> {
        self.db.delete_mailbox(user_id, name).await
    }
    async fn set_subscribed(&self, user_id: i64, name: &str, subscribed: bool) -> Result<()> {
        self.db.set_subscribed(user_id, name, subscribed).await
    }
    async fn append(
        &self,
        mailbox_id: i64,
        message: &[u8],
        flags: &str,
        internal_date: i64,
    ) -> Result<Delivered> {
        self.db
            .append(mailbox_id, message, flags, internal_date)
            .await
    }
    async fn copy_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>> {
        self.db.copy_messages(from, uids, to).await
    }
    async fn move_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>> {
        self.db.move_messages(from, uids, to).await
    }
    async fn store_flags(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        change: FlagChange,
        flags: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<FlagUpdate> {
        self.db
            .store_flags(mailbox_id, uids, change, flags, unchanged_since)
            .await
    }
    async fn changed_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<MailboxEntry>> {
        self.db.changed_since(mailbox_id, modseq).await
    }
    async fn vanished_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<u32>> {
        self.db.vanished_since(mailbox_id, modseq).await
    }
    async fn quota_usage(&self, user_id: i64) -> Result<(i64, i64)> {
        self.db.quota_usage(user_id).await
    }
    async fn expunge_deleted(&self, mailbox_id: i64, uids: &[u32]) -> Result<Vec<u32>> {
        self.db.expunge_deleted(mailbox_id, uids).await
    }
    async fn blob_refcount(&self, hash: &str) -> Result<Option<i64>> {
        self.db.blob_refcount(hash).await
    }
    async fn accept(&self, message: Accept) -> Result<Accepted> {
        self.committer.accept(message).await
    }
    async fn queue_list(&self) -> Result<Vec<QueuedMessage>> {
        self.db.queue_list().await
    }
    async fn queue_get(&self, queue_id: &str) -> Result<Option<QueuedMessage>> {
        self.db.queue_get(queue_id).await
    }
    async fn lease_due(
        &self,
        owner: &str,
        now: i64,
        max: i64,
        lease_secs: i64,
    ) -> Result<Vec<QueueRecipient>> {
        self.db.lease_due(owner, now, max, lease_secs).await
    }
    async fn record_outcome(&self, recipient_id: i64, owner: &str, outcome: Outcome) -> Result<()> {
        self.db.record_outcome(recipient_id, owner, outcome).await
    }
    async fn record_attempt(
        &self,
        owner: &str,
        updates: &[RecipientUpdate],
        reports: &dyn ReportBuilder,
    ) -> Result<AttemptRecorded> {
        self.db.record_attempt(owner, updates, reports).await
    }
    async fn queue_body(&self, queue_id: &str) -> Result<Option<Vec<u8>>> {
        self.db.queue_body(queue_id).await
    }
    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64> {
        self.db.renew_leases(owner, until).await
    }
    async fn release_leases(&self, owner: &str) -> Result<u64> {
        self.db.release_leases(owner).await
    }
    async fn queue_next_due(&self) -> Result<Option<i64>> {
        self.db.queue_next_due().await
    }
    async fn queue_retry(&self, queue_id: Option<&str>) -> Result<u64> {
        self.db.queue_retry(queue_id).await
    }
    async fn queue_delete(&self, queue_id: &str) -> Result<bool> {
        self.db.queue_delete(queue_id).await
    }
    fn hand_off(
        &self,
        owner: &str,
        lease_secs: i64,
        max_body: usize,
        sender: tokio::sync::mpsc::Sender<Handoff>,
    ) {
        let mut target = self.db.handoff.lock().unwrap_or_else(|p| p.into_inner());
        *target = Some(crate::engine::HandoffTarget {
            owner: owner.to_string(),
            lease_secs,
            max_body,
            sender,
        });
    }
    async fn queue_signal(&self) -> Result<Arc<tokio::sync::Notify>> {
        notify::queue_signal(&self.db, &self.listening).await
    }
    async fn subscribe(&self) -> Result<broadcast::Receiver<MailboxChange>> {
        notify::subscribe(&self.db, &self.listening).await
    }
    async fn close(&self) {
        self.db.pool.close().await;
    }
}
