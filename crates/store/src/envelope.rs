//! Local delivery's one home: a resolved envelope — the sender, the local users that
//! receive the message, the remote recipients, the local ones that cannot take it —
//! turned into the [`Accept`] the store takes, each local copy with its `Return-Path:`.
//! SMTP acceptance and delivery's reports build their `Accept` here (and so will Sieve
//! and a sendmail command).

use crate::dsn_params::Ret;
use crate::model::{Accept, FailedRecipient, LocalDelivery, RemoteRecipient, Resolution, User};

/// Who a message goes to, once every recipient is resolved.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Envelope sender; empty for the null sender `<>`.
    pub sender: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    /// The logged-in user who sent it, if any.
    pub auth_user: Option<String>,
    /// Users receiving the message in their INBOX (or Junk folder, with `junk`).
    pub local: Vec<User>,
    /// The local copies go to the Junk folders (DMARC `p=quarantine`).
    pub junk: bool,
    pub remote: Vec<RemoteRecipient>,
    /// Local recipients that cannot take the message: queued already failing, so that
    /// delivery reports them to the sender.
    pub failed: Vec<FailedRecipient>,
}

/// The header line a local copy from `sender` starts with (`Return-Path: <>` for the null
/// sender). Its length counts in the size a mailbox stores.
pub fn return_path(sender: &str) -> Vec<u8> {
    format!("Return-Path: <{sender}>\r\n").into_bytes()
}

impl Envelope {
    /// A message from `sender` to `to`, whose resolution is `resolution`: its users
    /// receive it locally, outside addresses (an alias's targets, or `to` itself when its
    /// domain is not ours) through the queue. `None` when nobody receives mail at `to`.
    pub fn to_resolved(sender: &str, to: &str, resolution: Resolution) -> Option<Envelope> {
        let (local, external) = match resolution {
            Resolution::Deliver { users, external } => (users, external),
            Resolution::NotLocal => (Vec::new(), vec![to.to_string()]),
            Resolution::UnknownUser => return None,
        };
        let remote: Vec<RemoteRecipient> = external
            .into_iter()
            .map(|address| RemoteRecipient {
                address,
                ..RemoteRecipient::default()
            })
            .collect();
        (!local.is_empty() || !remote.is_empty()).then(|| Envelope {
            sender: sender.to_string(),
            local,
            remote,
            ..Envelope::default()
        })
    }

    /// What the store accepts for this envelope and `body`, under `queue_id`.
    pub fn accept(
        self,
        queue_id: String,
        body: Vec<u8>,
        message_id: Option<String>,
        internal_date: i64,
    ) -> Accept {
        let prefix = return_path(&self.sender);
        Accept {
            queue_id,
            body,
            local: self
                .local
                .iter()
                .map(|u| LocalDelivery {
                    user_id: u.id,
                    prefix: prefix.clone(),
                    junk: self.junk,
                    folder: None,
                    create: false,
                    flags: crate::Flags::default(),
                })
                .collect(),
            sender: self.sender,
            envid: self.envid,
            ret: self.ret,
            auth_user: self.auth_user,
            remote: self.remote,
            failed: self.failed,
            message_id,
            internal_date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolution_splits_into_local_and_remote_copies_with_their_return_path() {
        let to = |r| Envelope::to_resolved("ann@example.com", "x@outside.test", r);
        assert!(to(Resolution::UnknownUser).is_none());
        let outside = to(Resolution::NotLocal).expect("remote");
        assert_eq!(
            (outside.local.len(), outside.remote[0].address.as_str()),
            (0, "x@outside.test")
        );
        let bob = User {
            id: 3,
            address: "bob@example.com".into(),
            domain: "example.com".into(),
            quota_bytes: 0,
            pop3_keep: true,
            created_at: 0,
            admin: false,
        };
        let external = vec!["fwd@outside.test".into()];
        let here = to(Resolution::Deliver {
            users: vec![bob],
            external,
        })
        .expect("both");
        let accept = here.accept("Q".into(), b"x".to_vec(), None, 7);
        assert_eq!((accept.local[0].user_id, accept.internal_date), (3, 7));
        assert_eq!(
            accept.local[0].prefix,
            b"Return-Path: <ann@example.com>\r\n"
        );
        assert_eq!(accept.remote[0].address, "fwd@outside.test");
    }
}
