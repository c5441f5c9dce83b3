//! Who may do what: trusted networks (relay without AUTH) and the addresses an
//! authenticated user may use as envelope sender.

use estafeta_store::{Resolution, Store, StoreError, User, address};

/// Networks allowed to relay without authentication.
pub use estafeta_net::Networks;

/// May `user` send with envelope sender `sender`? Their own address, plus-tagged forms of
/// it, and addresses that deliver to them (their aliases) are theirs; `<>` is allowed.
pub async fn may_send_as(store: &dyn Store, user: &User, sender: &str) -> Result<bool, StoreError> {
    if sender.is_empty() {
        return Ok(true);
    }
    let Ok(sender) = address::normalize(sender) else {
        return Ok(false);
    };
    if sender == user.address
        || address::strip_plus(&sender).as_deref() == Some(user.address.as_str())
    {
        return Ok(true);
    }
    Ok(match store.resolve(&sender).await? {
        Resolution::Deliver { users, .. } => users.iter().any(|u| u.id == user.id),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Networks::parse(&["127.0.0.0/8".into(), "10.1.0.0/16".into(), "::1/128".into()]);
        assert!(n.contains("127.0.0.1".parse().unwrap()));
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::1".parse().unwrap()));
        assert!(n.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!n.contains("::2".parse().unwrap()));
        assert!(Networks::parse(&["0.0.0.0/0".into()]).contains("8.8.8.8".parse().unwrap()));
        assert!(!Networks::parse(&[]).contains("127.0.0.1".parse().unwrap()));
    }
}
