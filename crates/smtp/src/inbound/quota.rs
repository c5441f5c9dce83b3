//! Room in the local recipients' mailboxes. At RCPT, against the size the client declares
//! (MAIL SIZE=): a recipient whose every mailbox is full is refused there (`552 5.2.2`).
//! Once the message is read, against its real size as stored: recipients whose mailbox
//! is full (or gone) are not dropped silently after the 250 — they go to the queue
//! already failing with 5.2.2 (5.1.1), so that delivery sends the sender the report their
//! NOTIFY asks for — and when no recipient at all can take the message the end of DATA is
//! answered `552 5.2.2` (`550 5.1.1`) and nothing is stored.
//!
//! A full mailbox fails the recipient at once, as Dovecot's LMTP does (`552 5.2.2`); it is
//! not deferred and retried as Postfix's local delivery does: local delivery here happens
//! in the acceptance transaction, there is no later local attempt to retry.

use estafeta_store::{FailedRecipient, Notify, Store, User};

/// A local user receiving the message, and the recipient (as the client gave it, with its
/// DSN parameters) that brought them in: an alias member reports under the alias.
#[derive(Debug, Clone)]
pub struct LocalRecipient {
    pub user: User,
    /// The RCPT address.
    pub rcpt: String,
    pub orcpt: Option<String>,
    pub notify: Option<Notify>,
}

/// The addresses of `users` whose quota has no room for `size` more bytes (a mailbox
/// exactly full has room for nothing). Users without a quota are not looked up; a failed
/// lookup refuses nobody (the real size is checked again at the end of DATA).
pub async fn full_for_declared(store: &dyn Store, users: &[User], size: u64) -> Vec<String> {
    let mut full = Vec::new();
    for user in users.iter().filter(|u| u.quota_bytes > 0) {
        if let Ok((used, _)) = store.quota_usage(user.id).await
            && used.saturating_add(size as i64) >= user.quota_bytes
        {
            full.push(user.address.clone());
        }
    }
    full
}

/// Where a message of `size` bytes (as stored: prefix included) can go.
#[derive(Debug, Default)]
pub struct Placement {
    /// Users with room, each once.
    pub room: Vec<User>,
    /// Those without, for the queue.
    pub failed: Vec<FailedRecipient>,
    /// Every failure is a full mailbox (as opposed to a mailbox gone).
    pub all_full: bool,
}

impl Placement {
    /// The reply at the end of DATA when nobody can take the message.
    pub fn refusal(&self) -> &'static str {
        if self.all_full {
            "552 5.2.2 Mailbox full: quota exceeded, message not accepted"
        } else {
            "550 5.1.1 Mailbox unavailable: message not accepted"
        }
    }
}

/// Checks every local recipient against the real size: the user must still exist (read
/// again: the quota too may have changed since RCPT) and have room for `size` bytes.
pub async fn place(store: &dyn Store, locals: &[LocalRecipient], size: usize) -> Placement {
    let mut p = Placement {
        all_full: true,
        ..Placement::default()
    };
    for local in locals {
        if p.room.iter().any(|u| u.id == local.user.id)
            || p.failed.iter().any(|f| f.address == local.user.address)
        {
            continue;
        }
        let fail = |reason: String| FailedRecipient {
            address: local.user.address.clone(),
            orcpt: local
                .orcpt
                .clone()
                .or_else(|| Some(format!("rfc822;{}", local.rcpt))),
            notify: local.notify,
            reason,
        };
        let user = match store.get_user(&local.user.address).await {
            Ok(Some(user)) if user.id == local.user.id => user,
            Ok(_) => {
                p.all_full = false;
                p.failed.push(fail(
                    "5.1.1 mailbox unavailable: the user no longer exists".into(),
                ));
                continue;
            }
            // a failed lookup does not refuse mail: the store takes it or answers 451
            Err(_) => local.user.clone(),
        };
        if user.quota_bytes > 0
            && let Ok((used, _)) = store.quota_usage(user.id).await
            && used.saturating_add(size as i64) > user.quota_bytes
        {
            p.failed.push(fail(format!(
                "5.2.2 mailbox full: the message ({size} bytes) does not fit in the quota"
            )));
            continue;
        }
        p.room.push(user);
    }
    p
}
