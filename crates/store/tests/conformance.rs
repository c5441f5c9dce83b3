//! Store conformance suite: every test runs against SQLite and, when
//! `ESTAFETA_TEST_POSTGRES` holds a connection URL, against a fresh PostgreSQL database.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::Fixture;
use estafeta_store::*;

/// `conformance!(a, b)` runs `a(store)` and `b(store)`; `conformance!(fixture: c)` runs
/// `c(&fixture)`, for tests that look into the database or reopen it.
macro_rules! conformance {
    (@test $name:ident, $f:ident, $arg:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $f = super::Fixture::sqlite().await;
                super::$name($arg).await;
                $f.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($f) = super::Fixture::postgres().await else {
                    return; // skipped, and said so (testkit::postgres)
                };
                super::$name($arg).await;
                $f.finish().await;
            }
        }
    };
    (fixture: $($name:ident),* $(,)?) => {
        $(conformance!(@test $name, f, &f);)*
    };
    ($($name:ident),* $(,)?) => {
        $(conformance!(@test $name, f, f.store.clone());)*
    };
}

conformance!(
    domains,
    users_and_default_folders,
    authentication,
    scram_secrets,
    resolution,
    accept_local_and_remote,
    quarantined_copies_go_to_junk,
    concurrent_accepts_get_increasing_uids,
    a_bad_message_in_a_group_commit_fails_alone,
    a_message_is_read_in_ranges,
    flags_and_expunge_bump_modseq,
    summaries_are_cached_per_body,
    suppression_lists,
    suppressions_in_one_transaction,
    dkim_keys,
    tls_results_add_up_and_are_taken_once,
    dmarc_records_add_up_and_are_taken_once,
    sent_messages_are_recorded_on_delivery,
    queue_leases,
    queue_concurrent_leases_are_disjoint,
    queue_report_to_outside_sender_and_delay_report,
    queue_hand_off_to_the_scheduler,
    change_notification,
    store_flags_and_changes_since,
    quota_is_enforced,
    append_many_is_all_or_nothing,
    metadata_entries,
    statistics_add_up_across_flushes,
    tracking_counts_opens_and_clicks,
    jmap_emails_across_folders,
    jmap_uploads_are_bounded_and_expire,
);

conformance!(
    fixture: body_stored_once_and_released,
    failing_local_recipients_are_queued_failing,
    queue_reports_wait_for_recipients_in_flight,
    a_report_owed_at_a_crash_is_sent_once,
    queue_operator_commands,
    removing_a_user_releases_bodies,
    folders_create_rename_delete,
    recent_messages_are_taken_once,
    append_copy_move,
    search_index_narrows_and_follows_bodies,
    large_bodies_are_kept_in_pieces,
    indexing_and_deleting_the_same_bodies_both_succeed,
    sieve_scripts_one_active_bounded_and_remembered,
);

async fn setup_user(store: &Arc<dyn Store>, address: &str) -> User {
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if !store.is_local_domain(domain).await.unwrap() {
        store.add_domain(domain).await.unwrap();
    }
    store
        .add_user(NewUser {
            address: address.into(),
            password: "correct horse".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await
        .unwrap()
}

fn message(body: &str, local: &[&User], remote: &[&str]) -> Accept {
    Accept {
        queue_id: new_queue_id(),
        body: body.as_bytes().to_vec(),
        sender: "sender@outside.test".into(),
        local: local
            .iter()
            .map(|u| LocalDelivery {
                user_id: u.id,
                prefix: format!(
                    "Return-Path: <sender@outside.test>\r\nDelivered-To: {}\r\n",
                    u.address
                )
                .into_bytes(),
                junk: false,
                folder: None,
                create: false,
                flags: Default::default(),
            })
            .collect(),
        remote: remote
            .iter()
            .map(|a| RemoteRecipient {
                address: a.to_string(),
                ..Default::default()
            })
            .collect(),
        internal_date: 1_700_000_000,
        ..Default::default()
    }
}

async fn inbox(store: &Arc<dyn Store>, user: &User) -> Mailbox {
    store
        .get_mailbox(user.id, "INBOX")
        .await
        .unwrap()
        .expect("INBOX exists")
}

async fn domains(store: Arc<dyn Store>) {
    store.add_domain("Example.COM").await.unwrap();
    let e = store.add_domain("example.com").await.unwrap_err();
    assert_eq!(e.to_string(), "domain example.com already exists");
    store.add_domain("other.test").await.unwrap();
    let names: Vec<String> = store
        .list_domains()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, vec!["example.com", "other.test"]);
    assert!(store.is_local_domain("EXAMPLE.com").await.unwrap());
    assert!(!store.is_local_domain("nowhere.test").await.unwrap());
    assert!(matches!(
        store.add_domain("not a domain").await,
        Err(StoreError::Invalid(_))
    ));

    setup_user(&store, "bob@example.com").await;
    let e = store.remove_domain("example.com").await.unwrap_err();
    assert!(e.to_string().contains("still has 1 user(s)"), "{e}");
    store.remove_domain("other.test").await.unwrap();
    let e = store.remove_domain("other.test").await.unwrap_err();
    assert_eq!(e.to_string(), "domain other.test does not exist");
}

async fn users_and_default_folders(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "Bob@Example.com").await;
    assert_eq!(bob.address, "bob@example.com");
    assert!(bob.pop3_keep);
    let e = store
        .add_user(NewUser {
            address: "bob@example.com".into(),
            password: "x".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "user bob@example.com already exists");
    let e = store
        .add_user(NewUser {
            address: "ann@example.org".into(),
            password: "x".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "domain example.org is not served here: add it with `estafeta domain add example.org`"
    );

    let folders = store.list_mailboxes(bob.id).await.unwrap();
    let shape: Vec<(String, Option<String>)> = folders
        .iter()
        .map(|m| (m.name.clone(), m.special_use.clone()))
        .collect();
    let expected: Vec<(String, Option<String>)> = DEFAULT_FOLDERS
        .iter()
        .map(|(n, r)| (n.to_string(), r.map(str::to_string)))
        .collect();
    assert_eq!(shape, expected);
    for m in &folders {
        assert_eq!(m.uidnext, 1);
        assert!(m.uidvalidity > 0);
        assert!(m.highestmodseq >= 1);
    }

    let changed = store
        .update_user(
            "bob@example.com",
            UserChanges {
                quota_bytes: Some(1 << 30),
                pop3_keep: Some(false),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.quota_bytes, 1 << 30);
    assert!(!changed.pop3_keep);
    assert_eq!(
        store.get_user("BOB@example.com").await.unwrap(),
        Some(changed)
    );

    setup_user(&store, "ann@example.com").await;
    setup_user(&store, "carl@other.test").await;
    let listed: Vec<String> = store
        .list_users(Some("example.com"))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.address)
        .collect();
    assert_eq!(listed, vec!["ann@example.com", "bob@example.com"]);
    assert_eq!(store.list_users(None).await.unwrap().len(), 3);

    store.remove_user("ann@example.com").await.unwrap();
    assert_eq!(store.get_user("ann@example.com").await.unwrap(), None);
    let e = store.remove_user("ann@example.com").await.unwrap_err();
    assert_eq!(e.to_string(), "user ann@example.com does not exist");
}

async fn authentication(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ok = store
        .authenticate("bob@example.com", "correct horse")
        .await
        .unwrap();
    assert_eq!(ok.map(|u| u.id), Some(bob.id));
    assert!(
        store
            .authenticate("bob@example.com", "wrong")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .authenticate("nobody@example.com", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .authenticate("not an address", "x")
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_password("bob@example.com", "battery staple")
        .await
        .unwrap();
    assert!(
        store
            .authenticate("bob@example.com", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .authenticate("BOB@example.com", "battery staple")
            .await
            .unwrap()
            .is_some()
    );
    let e = store
        .set_password("zed@example.com", "x")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "user zed@example.com does not exist");
}

async fn scram_secrets(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let stored = |s: ScramSecrets| match s {
        ScramSecrets::Stored { user, keys } => (user, keys),
        other => panic!("expected stored keys, got {other:?}"),
    };
    let (user, keys) = stored(store.scram_secrets("Bob@Example.com").await.unwrap());
    assert_eq!(user.id, bob.id);
    assert_eq!(keys.iterations, SCRAM_ITERATIONS);
    assert_eq!(keys.salt.len(), 16);
    // a new password brings new keys
    store
        .set_password("bob@example.com", "battery staple")
        .await
        .unwrap();
    let (_, new_keys) = stored(store.scram_secrets("bob@example.com").await.unwrap());
    assert_ne!(new_keys.stored_key, keys.stored_key);
    assert_ne!(new_keys.salt, keys.salt);
    // unknown names get a decoy: a stable salt, keys nothing matches
    let decoy = |s: ScramSecrets| match s {
        ScramSecrets::Decoy { keys, why } => (keys, why),
        other => panic!("expected a decoy, got {other:?}"),
    };
    let (a, why) = decoy(store.scram_secrets("nobody@example.com").await.unwrap());
    let (b, _) = decoy(store.scram_secrets("nobody@example.com").await.unwrap());
    let (c, _) = decoy(store.scram_secrets("someone@example.com").await.unwrap());
    assert_eq!(why, ScramDecoy::UnknownUser);
    assert_eq!(a.salt, b.salt);
    assert_ne!(a.salt, c.salt);
    assert_ne!(a.stored_key, b.stored_key);
    assert_eq!(a.iterations, SCRAM_ITERATIONS);
    let (_, why) = decoy(store.scram_secrets("not an address").await.unwrap());
    assert_eq!(why, ScramDecoy::UnknownUser);
}

fn delivered_to(r: &Resolution) -> (Vec<String>, Vec<String>) {
    match r {
        Resolution::Deliver { users, external } => {
            let mut u: Vec<String> = users.iter().map(|u| u.address.clone()).collect();
            u.sort();
            (u, external.clone())
        }
        other => panic!("expected delivery, got {other:?}"),
    }
}

async fn resolution(store: Arc<dyn Store>) {
    setup_user(&store, "bob@example.com").await;
    setup_user(&store, "ann@example.com").await;
    let one = |s: &str| vec![s.to_string()];

    let r = store.resolve("Bob@Example.com").await.unwrap();
    assert_eq!(delivered_to(&r), (one("bob@example.com"), vec![]));
    // plus-addressing
    let r = store.resolve("bob+lists@example.com").await.unwrap();
    assert_eq!(delivered_to(&r), (one("bob@example.com"), vec![]));
    // unknown user, foreign domain
    assert_eq!(
        store.resolve("zed@example.com").await.unwrap(),
        Resolution::UnknownUser
    );
    assert_eq!(
        store.resolve("bob@elsewhere.test").await.unwrap(),
        Resolution::NotLocal
    );
    // alias to several users and an outside address
    store
        .add_alias(
            "team@example.com",
            &[
                "bob@example.com".into(),
                "ann@example.com".into(),
                "boss@outside.test".into(),
            ],
        )
        .await
        .unwrap();
    let r = store.resolve("team@example.com").await.unwrap();
    assert_eq!(
        delivered_to(&r),
        (
            vec!["ann@example.com".into(), "bob@example.com".into()],
            one("boss@outside.test")
        )
    );
    // plus-addressing applies to aliases too
    let r = store.resolve("team+x@example.com").await.unwrap();
    assert_eq!(delivered_to(&r).0.len(), 2);
    // nested alias, and a loop that must terminate
    store
        .add_alias("all@example.com", &["team@example.com".into()])
        .await
        .unwrap();
    store
        .add_alias("loop1@example.com", &["loop2@example.com".into()])
        .await
        .unwrap();
    store
        .add_alias(
            "loop2@example.com",
            &["loop1@example.com".into(), "bob@example.com".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        delivered_to(&store.resolve("all@example.com").await.unwrap())
            .0
            .len(),
        2
    );
    assert_eq!(
        delivered_to(&store.resolve("loop1@example.com").await.unwrap()).0,
        one("bob@example.com")
    );
    // an alias to a missing local user delivers nowhere
    store
        .add_alias("ghost@example.com", &["gone@example.com".into()])
        .await
        .unwrap();
    assert_eq!(
        store.resolve("ghost@example.com").await.unwrap(),
        Resolution::UnknownUser
    );
    // duplicates are refused, aliases listed and removed
    let e = store
        .add_alias("all@example.com", &["team@example.com".into()])
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "alias all@example.com → team@example.com already exists"
    );
    let e = store
        .add_alias("x@nowhere.test", &["bob@example.com".into()])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::DomainNotServed(_)));
    // catch-all catches what nothing else does, not what exists
    store
        .add_alias("@example.com", &["ann@example.com".into()])
        .await
        .unwrap();
    let r = store.resolve("random@example.com").await.unwrap();
    assert_eq!(delivered_to(&r), (one("ann@example.com"), vec![]));
    let r = store.resolve("bob@example.com").await.unwrap();
    assert_eq!(delivered_to(&r), (one("bob@example.com"), vec![]));
    let aliases = store.list_aliases(Some("example.com")).await.unwrap();
    assert!(
        aliases
            .iter()
            .any(|a| a.address == "@example.com" && a.target == "ann@example.com")
    );
    store.remove_alias("@example.com", None).await.unwrap();
    assert_eq!(
        store.resolve("random@example.com").await.unwrap(),
        Resolution::UnknownUser
    );
    store
        .remove_alias("team@example.com", Some("boss@outside.test"))
        .await
        .unwrap();
    assert_eq!(
        delivered_to(&store.resolve("team@example.com").await.unwrap()).1,
        Vec::<String>::new()
    );
    let e = store
        .remove_alias("team@example.com", Some("boss@outside.test"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "alias team@example.com → boss@outside.test does not exist"
    );
}

/// DMARC quarantine: the copies go to each user's Junk folder, or INBOX without one.
async fn quarantined_copies_go_to_junk(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    store.delete_mailbox(ann.id, "Junk").await.unwrap();
    let mut m = message("Subject: suspect\r\n\r\nx\r\n", &[&bob, &ann], &[]);
    for local in &mut m.local {
        local.junk = true;
    }
    let accepted = store.accept(m).await.unwrap();
    let junk = store.get_mailbox(bob.id, "Junk").await.unwrap().unwrap();
    assert_eq!(accepted.delivered[0].mailbox_id, junk.id);
    assert_eq!(store.list_messages(junk.id).await.unwrap().len(), 1);
    assert!(
        store
            .list_messages(inbox(&store, &bob).await.id)
            .await
            .unwrap()
            .is_empty()
    );
    let ann_inbox = inbox(&store, &ann).await;
    assert_eq!(accepted.delivered[1].mailbox_id, ann_inbox.id);
    assert_eq!(store.list_messages(ann_inbox.id).await.unwrap().len(), 1);
}

async fn accept_local_and_remote(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    let m = message(
        "Subject: hi\r\n\r\nhello\r\n",
        &[&bob, &ann],
        &["x@remote.test", "Y@Remote.test"],
    );
    let queue_id = m.queue_id.clone();
    let accepted = store.accept(m).await.unwrap();
    assert_eq!(accepted.queue_id, queue_id);
    assert_eq!(accepted.delivered.len(), 2);
    assert!(accepted.delivered.iter().all(|d| d.uid == 1));

    let bytes = store
        .read_message(inbox(&store, &bob).await.id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "Return-Path: <sender@outside.test>\r\nDelivered-To: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    );
    let entries = store
        .list_messages(inbox(&store, &ann).await.id)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].internal_date, 1_700_000_000);
    assert_eq!(
        entries[0].size as usize,
        "Return-Path: <sender@outside.test>\r\nDelivered-To: ann@example.com\r\nSubject: hi\r\n\r\nhello\r\n".len()
    );

    let queued = store.queue_get(&queue_id).await.unwrap().expect("queued");
    assert_eq!(queued.sender, "sender@outside.test");
    let rcpts: Vec<(String, String, RecipientState)> = queued
        .recipients
        .iter()
        .map(|r| (r.address.clone(), r.domain.clone(), r.state))
        .collect();
    assert_eq!(
        rcpts,
        vec![
            (
                "x@remote.test".into(),
                "remote.test".into(),
                RecipientState::Queued
            ),
            (
                "y@remote.test".into(),
                "remote.test".into(),
                RecipientState::Queued
            ),
        ]
    );
    assert_eq!(store.queue_list().await.unwrap().len(), 1);

    // local-only messages do not enter the queue; a message with nobody is refused
    store
        .accept(message("local only", &[&bob], &[]))
        .await
        .unwrap();
    assert_eq!(store.queue_list().await.unwrap().len(), 1);
    assert!(store.accept(message("nobody", &[], &[])).await.is_err());
}

async fn body_stored_once_and_released(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    let body = "Subject: shared\r\n\r\nthe same body for everyone\r\n";
    let hash = body_hash(body.as_bytes());
    let accepted = store
        .accept(message(body, &[&bob, &ann], &["x@remote.test"]))
        .await
        .unwrap();
    assert_eq!(accepted.blob_hash, hash);
    assert_eq!(f.refcount(&hash).await, Some(3));
    // the same body again, another message: still one stored copy, more references
    store.accept(message(body, &[&bob], &[])).await.unwrap();
    assert_eq!(f.refcount(&hash).await, Some(4));

    let bob_inbox = inbox(&store, &bob).await.id;
    store.expunge(bob_inbox, &[1, 2]).await.unwrap();
    assert_eq!(f.refcount(&hash).await, Some(2));
    store
        .expunge(inbox(&store, &ann).await.id, &[1])
        .await
        .unwrap();
    assert_eq!(f.refcount(&hash).await, Some(1));

    let leased = store.lease_due("node-a", now(), 10, 60).await.unwrap();
    assert_eq!(leased.len(), 1);
    let delivered = DeliveryOutcome::Delivered {
        reply: "250 ok".into(),
    };
    let done = store
        .record_attempt("node-a", &[update(&leased[0], delivered, None)])
        .await
        .unwrap();
    assert_eq!(done.finished, vec![accepted.queue_id.clone()]);
    assert_eq!(f.refcount(&hash).await, None, "unreferenced body deleted");
    assert!(store.queue_get(&accepted.queue_id).await.unwrap().is_none());
}

async fn concurrent_accepts_get_increasing_uids(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let before = inbox(&store, &bob).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        let bob = bob.clone();
        tasks.push(tokio::spawn(async move {
            store
                .accept(message(
                    &format!("Subject: {i}\r\n\r\nbody {i}\r\n"),
                    &[&bob],
                    &[],
                ))
                .await
        }));
    }
    let mut uids = Vec::new();
    let mut modseqs = BTreeSet::new();
    for t in tasks {
        let accepted = t.await.unwrap().unwrap();
        uids.push(accepted.delivered[0].uid);
        modseqs.insert(accepted.delivered[0].modseq);
    }
    uids.sort_unstable();
    assert_eq!(
        uids,
        (1..=50).collect::<Vec<u32>>(),
        "50 distinct UIDs, no gap"
    );
    assert_eq!(modseqs.len(), 50, "each accept bumped MODSEQ");
    let after = inbox(&store, &bob).await;
    assert_eq!(after.uidnext, 51);
    assert_eq!(after.highestmodseq, before.highestmodseq + 50);
    assert_eq!(after.uidvalidity, before.uidvalidity);
    let batch = store.read_messages(after.id, 10, 12).await.unwrap();
    assert_eq!(
        batch.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    assert_eq!(
        Some(batch[1].1.clone()),
        store.read_message(after.id, 11).await.unwrap()
    );
    // in UID order, MODSEQ strictly increases: UIDs were handed out in commit order
    let entries = store.list_messages(after.id).await.unwrap();
    assert_eq!(entries.len(), 50);
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].uid < w[1].uid && w[0].modseq < w[1].modseq)
    );
}

/// Messages accepted together share a transaction (SQLite: one savepoint each; PostgreSQL:
/// retried one by one): one that cannot be stored fails alone, and leaves nothing behind:
/// not its other recipient's copy, not the UID it took, not its queue entry.
async fn a_bad_message_in_a_group_commit_fails_alone(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ghost = User {
        id: i64::MAX,
        ..bob.clone()
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let (bob, ghost) = (bob.clone(), ghost.clone());
        tasks.push(tokio::spawn(async move {
            let bad = i % 10 == 9;
            let body = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
            let m = if bad {
                // bob's copy is written before the missing user's fails
                message(&body, &[&bob, &ghost], &["far@remote.test"])
            } else {
                message(&body, &[&bob], &["far@remote.test"])
            };
            let queue_id = m.queue_id.clone();
            (bad, queue_id, store.accept(m).await)
        }));
    }
    let mut stored = Vec::new();
    for t in tasks {
        let (bad, queue_id, outcome) = t.await.unwrap();
        assert_eq!(outcome.is_err(), bad, "{queue_id}: {outcome:?}");
        if !bad {
            stored.push(queue_id);
        }
    }
    let after = inbox(&store, &bob).await;
    assert_eq!(
        after.uidnext, 37,
        "the failed messages' UIDs were given back"
    );
    let entries = store.list_messages(after.id).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.uid).collect::<Vec<_>>(),
        (1..=36).collect::<Vec<u32>>()
    );
    let mut queued: Vec<String> = store
        .queue_list()
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    queued.sort();
    stored.sort();
    assert_eq!(queued, stored, "only the stored messages are queued");
}

async fn a_message_is_read_in_ranges(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let body: String = (0..5000).map(|i| format!("line {i}\r\n")).collect();
    let accepted = store
        .accept(message(
            &format!("Subject: big\r\n\r\n{body}"),
            &[&bob],
            &[],
        ))
        .await
        .unwrap();
    let mb = inbox(&store, &bob).await;
    let uid = accepted.delivered[0].uid;
    let whole = store.read_message(mb.id, uid).await.unwrap().unwrap();
    assert!(whole.len() > 40_000);
    // pieces across the prefix/body seam, inside the body, past the end
    let prefix = whole.len() - (body.len() + "Subject: big\r\n\r\n".len());
    for (start, len) in [
        (0u64, 10u64),
        (0, 100_000),
        (prefix as u64 - 3, 7),
        (prefix as u64, 1),
        (12_345, 4096),
        (whole.len() as u64 - 5, 100),
        (whole.len() as u64, 10),
        (u64::MAX, 10),
    ] {
        let got = store
            .read_message_range(mb.id, uid, start, len)
            .await
            .unwrap()
            .unwrap();
        let s = (start.min(whole.len() as u64)) as usize;
        let e = s.saturating_add(len as usize).min(whole.len());
        assert_eq!(got, whole[s..e], "{start}+{len}");
    }
    // read back in pieces, it is the message
    let mut joined = Vec::new();
    while let Some(piece) = store
        .read_message_range(mb.id, uid, joined.len() as u64, 8192)
        .await
        .unwrap()
        .filter(|p| !p.is_empty())
    {
        joined.extend_from_slice(&piece);
    }
    assert_eq!(joined, whole);
    assert!(
        store
            .read_message_range(mb.id, uid + 1, 0, 10)
            .await
            .unwrap()
            .is_none()
    );
}

/// Replaces one message's flags; the new MODSEQ.
async fn set_flags(store: &Arc<dyn Store>, mailbox_id: i64, uid: u32, flags: &str) -> i64 {
    let flags = Flags::parse(flags);
    let up = store
        .store_flags(mailbox_id, &[uid], FlagChange::Replace, &flags, None)
        .await
        .unwrap();
    assert_eq!(up.changed, vec![(uid, flags)]);
    up.modseq
}

async fn flags_and_expunge_bump_modseq(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    store.accept(message("one", &[&bob], &[])).await.unwrap();
    store.accept(message("two", &[&bob], &[])).await.unwrap();
    let mb = inbox(&store, &bob).await;
    let m1 = set_flags(&store, mb.id, 1, "\\Seen \\Flagged").await;
    assert!(m1 > mb.highestmodseq);
    let entries = store.list_messages(mb.id).await.unwrap();
    assert_eq!(entries[0].flags.as_str(), "\\Flagged \\Seen");
    assert_eq!(entries[0].modseq, m1);
    assert!(entries[1].modseq < m1);
    // IMAP EXPUNGE removes only what still carries \Deleted
    store.accept(message("kept", &[&bob], &[])).await.unwrap();
    set_flags(&store, mb.id, 3, "\\Deleted").await;
    assert_eq!(
        store.expunge_deleted(mb.id, &[2, 3]).await.unwrap(),
        vec![3]
    );
    let m2 = store.expunge(mb.id, &[1]).await.unwrap();
    assert!(m2 > m1);
    let left: Vec<u32> = store
        .list_messages(mb.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(left, vec![2]);
    // UIDs are never reused
    let next = store.accept(message("three", &[&bob], &[])).await.unwrap();
    assert_eq!(next.delivered[0].uid, 4);
    assert_eq!(
        inbox(&store, &bob).await.highestmodseq,
        next.delivered[0].modseq
    );
    // by id, the same row as by name
    let by_id = store.mailbox_by_id(mb.id).await.unwrap().unwrap();
    assert_eq!(by_id.name, "INBOX");
    assert_eq!(by_id.highestmodseq, next.delivered[0].modseq);
    assert!(store.mailbox_by_id(-1).await.unwrap().is_none());
}

fn suppression(domain: &str, address: &str, reason: &str) -> NewSuppression {
    NewSuppression {
        domain: domain.into(),
        address: address.into(),
        reason: reason.into(),
    }
}

async fn statistics_add_up_across_flushes(store: Arc<dyn Store>) {
    use estafeta_store::{DeliveryFailure, StatEvent};
    assert_eq!(store.flush_stats().await.unwrap(), 0, "nothing counted");
    store.count(StatEvent::Accepted, "Example.com", "bob@example.com", 2);
    store.count(StatEvent::Accepted, "example.com", "bob@example.com", 1);
    store.count(StatEvent::Refused, "", "", 4);
    let failure = |n: i64| DeliveryFailure {
        at: n,
        queue_id: format!("Q{n}"),
        sender: "bob@example.com".into(),
        recipient: "x@outside.test".into(),
        reply: format!("450 4.2.0 try later ({n})"),
        bounced: n % 2 == 0,
    };
    store.failure(failure(1));
    assert_eq!(store.flush_stats().await.unwrap(), 2);
    store.count(StatEvent::Accepted, "example.com", "bob@example.com", 5);
    store.failure(failure(2));
    store.flush_stats().await.unwrap();
    let hour = estafeta_store::now() / 3600 * 3600;
    let mut rows = store.stats_since(hour - 3600).await.unwrap();
    rows.sort_by_key(|r| r.event);
    let got: Vec<(String, String, StatEvent, i64)> = rows
        .iter()
        .map(|r| (r.domain.clone(), r.user.clone(), r.event, r.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "example.com".into(),
                "bob@example.com".into(),
                StatEvent::Accepted,
                8
            ),
            (String::new(), String::new(), StatEvent::Refused, 4),
        ]
    );
    assert!(rows.iter().all(|r| r.hour == hour || r.hour == hour - 3600));
    assert!(store.stats_since(hour + 3600).await.unwrap().is_empty());
    assert_eq!(
        store.recent_failures(10).await.unwrap(),
        vec![failure(2), failure(1)],
        "newest first"
    );
    assert_eq!(store.recent_failures(1).await.unwrap(), vec![failure(2)]);
}

async fn tracking_counts_opens_and_clicks(store: Arc<dyn Store>) {
    use estafeta_store::TrackedMessage;
    store.add_domain("example.com").await.unwrap();
    assert!(
        !store.domain_tracking("example.com").await.unwrap(),
        "off by default"
    );
    assert!(!store.domain_tracking("nowhere.test").await.unwrap());
    assert!(matches!(
        store.set_domain_tracking("nowhere.test", true).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .set_domain_tracking("Example.COM", true)
        .await
        .unwrap();
    assert!(store.domain_tracking("example.com").await.unwrap());
    let listed = store.list_domains().await.unwrap();
    assert!(listed.iter().any(|d| d.name == "example.com" && d.tracking));
    let now = estafeta_store::now();
    let message = |id: &str, at: i64| TrackedMessage {
        id: id.into(),
        domain: "example.com".into(),
        sender: "bob@example.com".into(),
        subject: "News".into(),
        recipients: 2,
        links: 3,
        sent_at: at,
        ..TrackedMessage::default()
    };
    // one too old to keep: forgotten when the next is added
    store.add_tracked_message(&message("OLD", 1)).await.unwrap();
    store
        .add_tracked_message(&message("Q1", now))
        .await
        .unwrap();
    store
        .add_tracked_message(&message("Q1", now))
        .await
        .unwrap();
    assert!(!store.record_open("OLD", now).await.unwrap(), "forgotten");
    assert!(!store.record_open("nothing", now).await.unwrap());
    assert!(
        !store
            .record_click("nothing", "https://a.test/", now)
            .await
            .unwrap()
    );
    assert!(store.record_open("Q1", now + 5).await.unwrap());
    assert!(store.record_open("Q1", now + 9).await.unwrap());
    let long = format!("https://a.test/{}", "é".repeat(3000));
    for url in [
        "https://a.test/x",
        "https://a.test/x",
        "https://b.test/",
        &long,
    ] {
        assert!(store.record_click("Q1", url, now + 10).await.unwrap());
    }
    let got = store
        .tracked_messages(Some("EXAMPLE.com"), 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!((m.opens, m.clicks, m.recipients, m.links), (2, 4, 2, 3));
    assert_eq!(
        (m.first_open, m.last_event),
        (Some(now + 5), Some(now + 10))
    );
    assert!(
        store
            .tracked_messages(Some("other.test"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.tracked_messages(None, 10).await.unwrap().len(), 1);
    let clicks = store.tracked_clicks("Q1").await.unwrap();
    assert_eq!(clicks.len(), 3);
    assert_eq!(
        (clicks[0].url.as_str(), clicks[0].clicks),
        ("https://a.test/x", 2)
    );
    assert!(
        clicks
            .iter()
            .all(|c| c.url.len() <= estafeta_store::tracking::MAX_TRACKED_URL)
    );
}

async fn tls_results_add_up_and_are_taken_once(store: Arc<dyn Store>) {
    let result = |start: i64, outcome: &str, count: i64| TlsResult {
        period_start: start,
        period_end: start + 86400,
        domain: "example.net".into(),
        policy_type: "sts".into(),
        policy: "version: STSv1\nmode: enforce".into(),
        mx_patterns: "mx.example.net".into(),
        result: outcome.into(),
        receiving_mx: "mx.example.net".into(),
        receiving_ip: "192.0.2.1".into(),
        count,
    };
    store
        .add_tls_results(&[result(0, "success", 2), result(0, "certificate-expired", 1)])
        .await
        .unwrap();
    store
        .add_tls_results(&[result(0, "success", 3), result(86400, "success", 7)])
        .await
        .unwrap();
    assert!(
        store.take_tls_results(86399).await.unwrap().is_empty(),
        "not ended yet"
    );
    let mut taken = store.take_tls_results(86400).await.unwrap();
    taken.sort_by(|a, b| a.result.cmp(&b.result));
    assert_eq!(
        taken,
        vec![result(0, "certificate-expired", 1), result(0, "success", 5)]
    );
    assert!(
        store.take_tls_results(86400).await.unwrap().is_empty(),
        "taken once"
    );
    assert_eq!(
        store.take_tls_results(i64::MAX).await.unwrap(),
        vec![result(86400, "success", 7)]
    );
}

async fn dmarc_records_add_up_and_are_taken_once(store: Arc<dyn Store>) {
    let record = |start: i64, row: &str, count: i64| DmarcRecord {
        period_start: start,
        period_end: start + 86400,
        domain: "example.net".into(),
        rua: "dmarc@example.net".into(),
        policy: "{\"p\":\"reject\"}".into(),
        record: row.into(),
        count,
    };
    store
        .add_dmarc_records(&[record(0, "a", 1), record(0, "b", 1), record(0, "a", 2)])
        .await
        .unwrap();
    store
        .add_dmarc_records(&[record(86400, "a", 4)])
        .await
        .unwrap();
    assert!(store.take_dmarc_records(86399).await.unwrap().is_empty());
    let mut taken = store.take_dmarc_records(86400).await.unwrap();
    taken.sort_by(|a, b| a.record.cmp(&b.record));
    assert_eq!(taken, vec![record(0, "a", 3), record(0, "b", 1)]);
    assert!(
        store.take_dmarc_records(86400).await.unwrap().is_empty(),
        "taken once"
    );
    assert_eq!(
        store.take_dmarc_records(i64::MAX).await.unwrap(),
        vec![record(86400, "a", 4)]
    );
}

async fn dkim_keys(store: Arc<dyn Store>) {
    store.add_domain("example.com").await.unwrap();
    let key = |selector: &str| NewDkimKey {
        domain: "Example.COM".into(),
        selector: selector.into(),
        algorithm: "ed25519".into(),
        private_key: "cHJpdmF0ZQ==".into(),
        public_key: "cHVibGlj".into(),
    };
    let added = store.add_dkim_key(key("S1")).await.unwrap();
    assert_eq!(
        (added.domain.as_str(), added.selector.as_str()),
        ("example.com", "s1")
    );
    assert!(added.active);
    store.add_dkim_key(key("s2")).await.unwrap();
    assert!(matches!(
        store.add_dkim_key(key("s1")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.add_dkim_key(key("no.dots")).await,
        Err(StoreError::Invalid(_))
    ));
    let mut other = key("s1");
    other.domain = "elsewhere.test".into();
    assert!(matches!(
        store.add_dkim_key(other).await,
        Err(StoreError::DomainNotServed(_))
    ));
    store
        .set_dkim_key_active("example.com", "s1", false)
        .await
        .unwrap();
    let keys = store.list_dkim_keys(Some("example.com")).await.unwrap();
    let state: Vec<(&str, bool)> = keys
        .iter()
        .map(|k| (k.selector.as_str(), k.active))
        .collect();
    assert_eq!(state, [("s1", false), ("s2", true)]);
    assert_eq!(keys[1].public_key, "cHVibGlj");
    store.remove_dkim_key("example.com", "s1").await.unwrap();
    assert!(matches!(
        store.remove_dkim_key("example.com", "s1").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_dkim_keys(None).await.unwrap().len(), 1);
    // the keys go with their domain
    store.remove_domain("example.com").await.unwrap();
    assert!(store.list_dkim_keys(None).await.unwrap().is_empty());
}

async fn suppression_lists(store: Arc<dyn Store>) {
    store.add_domain("example.com").await.unwrap();
    store
        .add_suppressions(&[suppression(
            "example.com",
            "Gone@Remote.example",
            "550 5.1.1 user unknown",
        )])
        .await
        .unwrap();
    // listed but not enforced: nothing is refused yet
    assert!(
        store
            .enforced_suppression("example.com", "gone@remote.example")
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_suppression_enforced("example.com", true)
        .await
        .unwrap();
    let hit = store
        .enforced_suppression("EXAMPLE.com", "gone@remote.example")
        .await
        .unwrap()
        .expect("suppressed");
    assert_eq!(hit.address, "gone@remote.example");
    assert_eq!(hit.reason, "550 5.1.1 user unknown");
    assert!(hit.enforced);
    // refreshed, not duplicated
    store
        .add_suppressions(&[suppression(
            "example.com",
            "gone@remote.example",
            "550 5.1.1 again",
        )])
        .await
        .unwrap();
    let list = store.list_suppressions(Some("example.com")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].reason, "550 5.1.1 again");
    assert!(matches!(
        store
            .add_suppressions(&[suppression("nowhere.example", "x@y.example", "r")])
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .remove_suppression("example.com", "gone@remote.example")
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_suppression("example.com", "gone@remote.example")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.list_suppressions(None).await.unwrap().is_empty());
}

async fn suppressions_in_one_transaction(store: Arc<dyn Store>) {
    store.add_domain("example.com").await.unwrap();
    store.add_domain("other.test").await.unwrap();
    let entry = |domain: &str, address: &str| NewSuppression {
        domain: domain.into(),
        address: address.into(),
        reason: "5.1.1".into(),
    };
    // one unknown domain refuses the lot
    let e = store
        .add_suppressions(&[
            entry("example.com", "a@remote.example"),
            entry("nowhere.example", "b@remote.example"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    assert!(store.list_suppressions(None).await.unwrap().is_empty());
    store
        .add_suppressions(&[
            entry("example.com", "A@Remote.example"),
            entry("other.test", "b@remote.example"),
            entry("example.com", "a@remote.example"),
        ])
        .await
        .unwrap();
    let list: Vec<(String, String)> = store
        .list_suppressions(None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.domain, s.address))
        .collect();
    assert_eq!(
        list,
        vec![
            ("example.com".into(), "a@remote.example".into()),
            ("other.test".into(), "b@remote.example".into())
        ]
    );
}

async fn sent_messages_are_recorded_on_delivery(store: Arc<dyn Store>) {
    let mut m = message(
        "sent",
        &[],
        &["a@remote.test", "b@remote.test", "c@remote.test"],
    );
    m.sender = "ann@example.com".into();
    m.message_id = Some("sent.1@example.com".into());
    let queue_id = m.queue_id.clone();
    store.accept(m).await.unwrap();
    // a report from <> is not recorded: nobody reports about it
    let mut report = message("report", &[], &["d@remote.test"]);
    report.sender = String::new();
    report.message_id = Some("report.1@example.com".into());
    store.accept(report).await.unwrap();
    let leased = store.lease_due("w", now(), 10, 60).await.unwrap();
    let mut updates = Vec::new();
    for r in &leased {
        let outcome = if r.address == "c@remote.test" {
            DeliveryOutcome::Failed {
                reply: "550 5.1.1 no".into(),
            }
        } else {
            DeliveryOutcome::Delivered {
                reply: "250 ok".into(),
            }
        };
        updates.push(update(r, outcome, None));
    }
    store.record_attempt("w", &updates).await.unwrap();
    let none: &[String] = &[];
    let by_queue = store
        .sent_messages(&[queue_id.to_ascii_lowercase()], none)
        .await
        .unwrap();
    assert_eq!(by_queue.len(), 1);
    assert_eq!(by_queue[0].queue_id, queue_id);
    assert_eq!(by_queue[0].sender, "ann@example.com");
    assert_eq!(
        by_queue[0].message_id.as_deref(),
        Some("sent.1@example.com")
    );
    assert_eq!(
        by_queue[0].recipients,
        vec!["a@remote.test", "b@remote.test"],
        "only what a remote server accepted"
    );
    let by_id = store
        .sent_messages(none, &["sent.1@example.com".to_string()])
        .await
        .unwrap();
    assert_eq!(by_id, by_queue);
    for unknown in [
        store
            .sent_messages(none, &["report.1@example.com".to_string()])
            .await
            .unwrap(),
        store
            .sent_messages(&["0000000000000000".to_string()], none)
            .await
            .unwrap(),
        store.sent_messages(none, none).await.unwrap(),
    ] {
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}

async fn failing_local_recipients_are_queued_failing(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let mut m = message("partly", &[&bob], &[]);
    m.failed = vec![FailedRecipient {
        address: "ann@example.com".into(),
        orcpt: Some("rfc822;team@example.com".into()),
        notify: Notify::parse("FAILURE"),
        reason: "5.2.2 mailbox full".into(),
    }];
    let queue_id = m.queue_id.clone();
    let accepted = store.accept(m).await.unwrap();
    assert_eq!(accepted.delivered.len(), 1, "bob has it");
    let queued = store.queue_get(&queue_id).await.unwrap().expect("queued");
    assert_eq!(queued.recipients.len(), 1);
    let r = &queued.recipients[0];
    assert_eq!(r.address, "ann@example.com");
    assert_eq!(r.failure.as_deref(), Some("5.2.2 mailbox full"));
    assert_eq!(r.state, RecipientState::Queued, "delivery fails it");
    // leased like any recipient, and the body is kept for the report
    let leased = store.lease_due("w", now(), 10, 60).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].failure.as_deref(), Some("5.2.2 mailbox full"));
    assert_eq!(f.refcount(&accepted.blob_hash).await, Some(2));
}

async fn summaries_are_cached_per_body(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let carol = setup_user(&store, "carol@example.com").await;
    store
        .accept(message("one", &[&bob, &carol], &[]))
        .await
        .unwrap();
    store.accept(message("two", &[&bob], &[])).await.unwrap();
    let mb = inbox(&store, &bob).await;
    let fresh = store.read_summaries(mb.id, 1, 2).await.unwrap();
    assert_eq!(fresh.iter().map(|s| s.uid).collect::<Vec<_>>(), vec![1, 2]);
    assert!(fresh.iter().all(|s| s.summary.is_none()));
    store
        .save_summaries(&[(fresh[0].blob_hash.clone(), b"parsed one".to_vec())])
        .await
        .unwrap();
    let after = store.read_summaries(mb.id, 1, 2).await.unwrap();
    assert_eq!(after[0].summary.as_deref(), Some(&b"parsed one"[..]));
    assert!(after[1].summary.is_none());
    // the body is shared, and so is its summary
    let carol_box = inbox(&store, &carol).await;
    let theirs = store.read_summaries(carol_box.id, 1, 1).await.unwrap();
    assert_eq!(theirs[0].summary.as_deref(), Some(&b"parsed one"[..]));
    // a body that has gone is skipped, not an error
    store
        .save_summaries(&[("no-such-body".into(), b"x".to_vec())])
        .await
        .unwrap();
}

async fn queue_leases(store: Arc<dyn Store>) {
    let m = message("out", &[], &["a@remote.test", "b@remote.test"]);
    let queue_id = m.queue_id.clone();
    store.accept(m).await.unwrap();
    let t = now();
    let mine = store.lease_due("node-a", t, 10, 60).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert!(
        mine.iter()
            .all(|r| r.lease_owner.as_deref() == Some("node-a"))
    );
    assert!(
        store
            .lease_due("node-b", t, 10, 60)
            .await
            .unwrap()
            .is_empty(),
        "leased rows are not handed out twice"
    );

    // a: deferred for an hour; b: its lease runs out and node-b takes it over
    let later = DeliveryOutcome::Deferred {
        reply: "451 try later".into(),
        next_attempt: t + 3600,
    };
    assert!(record(&store, "node-a", &mine[0], later).await);
    let taken = store.lease_due("node-b", t + 61, 10, 60).await.unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![mine[1].id]
    );
    let late = DeliveryOutcome::Delivered {
        reply: "250".into(),
    };
    assert!(
        !record(&store, "node-a", &mine[1], late).await,
        "the old owner's outcome is refused"
    );
    assert!(record(&store, "node-b", &mine[1], failed("550 5.1.1 no such user")).await);

    let q = store
        .queue_get(&queue_id)
        .await
        .unwrap()
        .expect("still queued: a is deferred");
    let a = &q.recipients[0];
    assert_eq!(a.state, RecipientState::Deferred);
    assert_eq!(a.attempts, 1);
    assert_eq!(a.next_attempt, t + 3600);
    assert_eq!(a.last_reply.as_deref(), Some("451 try later"));
    assert_eq!(a.lease_owner, None);
    assert_eq!(q.recipients[1].state, RecipientState::Failed);

    // not due before its time, due after
    assert!(
        store
            .lease_due("node-a", t + 100, 10, 60)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.lease_due("node-a", t + 3600, 10, 60).await.unwrap();
    assert_eq!(again.len(), 1);
    let delivered = DeliveryOutcome::Delivered {
        reply: "250 ok".into(),
    };
    assert!(record(&store, "node-a", &again[0], delivered).await);
    assert!(store.queue_get(&queue_id).await.unwrap().is_none());
}

async fn queue_concurrent_leases_are_disjoint(store: Arc<dyn Store>) {
    let rcpts: Vec<String> = (0..20).map(|i| format!("r{i}@remote.test")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    store.accept(message("many", &[], &refs)).await.unwrap();
    let t = now();
    let (a, b) = tokio::join!(
        store.lease_due("node-a", t, 20, 60),
        store.lease_due("node-b", t, 20, 60)
    );
    let a: BTreeSet<i64> = a.unwrap().iter().map(|r| r.id).collect();
    let b: BTreeSet<i64> = b.unwrap().iter().map(|r| r.id).collect();
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 20);
}

/// What a hand-over read: the reported message's body and (address, report) per recipient.
type HandedOver = (Vec<u8>, Vec<(String, ReportKind)>);

/// Does what delivery does for a message owing reports: reads it, builds a one-line report
/// naming the reported recipients, resolves the sender and hands the report over.
async fn hand_over(store: &Arc<dyn Store>, queue_id: &str) -> (ReportsQueued, HandedOver) {
    let message = store.queue_get(queue_id).await.unwrap().expect("queued");
    let body = store
        .queue_body(queue_id)
        .await
        .unwrap()
        .expect("body kept");
    let reported: Vec<(i64, String, ReportKind)> = message
        .recipients
        .iter()
        .filter_map(|r| Some((r.id, r.address.clone(), r.report?)))
        .collect();
    let who: Vec<(String, ReportKind)> = reported.iter().map(|r| (r.1.clone(), r.2)).collect();
    let resolution = store.resolve(&message.sender).await.unwrap();
    let report = Envelope::to_resolved("", &message.sender, resolution).map(|e| {
        let text = format!("Subject: report\r\n\r\n{who:?}\r\n");
        e.accept(new_queue_id(), text.into_bytes(), None, now())
    });
    let handover = ReportHandover {
        queue_id: queue_id.to_string(),
        recipients: reported.iter().map(|r| (r.0, r.2)).collect(),
        report,
    };
    let done = store.queue_reports(&[handover]).await.unwrap();
    (done, (body, who))
}

/// Records one outcome for `r`, owing no report; false when `owner` lost the lease.
async fn record(
    store: &Arc<dyn Store>,
    owner: &str,
    r: &QueueRecipient,
    outcome: DeliveryOutcome,
) -> bool {
    let done = store
        .record_attempt(owner, &[update(r, outcome, None)])
        .await
        .unwrap();
    done.conflicts.is_empty()
}

fn update(
    r: &QueueRecipient,
    outcome: DeliveryOutcome,
    report: Option<ReportKind>,
) -> RecipientUpdate {
    RecipientUpdate {
        recipient_id: r.id,
        queue_id: r.queue_id.clone(),
        outcome,
        host: Some("mx.remote.test[127.0.0.2]:25".into()),
        report,
    }
}

fn failed(reply: &str) -> DeliveryOutcome {
    DeliveryOutcome::Failed {
        reply: reply.into(),
    }
}

async fn queue_reports_wait_for_recipients_in_flight(f: &Fixture) {
    let store = f.store.clone();
    let ann = setup_user(&store, "ann@example.com").await;
    let mut m = message(
        "Subject: hi\r\n\r\nbody\r\n",
        &[],
        &["a@one.test", "b@two.test"],
    );
    m.sender = ann.address.clone();
    let hash = body_hash(&m.body);
    let queue_id = m.queue_id.clone();
    store.accept(m).await.unwrap();
    let leased = store.lease_due("w", now(), 10, 60).await.unwrap();
    assert_eq!(leased.len(), 2);

    // a fails while b is still being attempted: the report waits for b
    let done = store
        .record_attempt(
            "w",
            &[update(
                &leased[0],
                failed("550 5.1.1 no such user"),
                Some(ReportKind::Failed),
            )],
        )
        .await
        .unwrap();
    assert_eq!(done, AttemptRecorded::default());
    assert!(
        store.reports_owed(10).await.unwrap().is_empty(),
        "b is in flight"
    );
    let q = store.queue_get(&queue_id).await.unwrap().expect("queued");
    assert_eq!(q.recipients[0].report, Some(ReportKind::Failed));
    assert_eq!(q.recipients[0].state, RecipientState::Failed);
    assert_eq!(
        q.recipients[0].last_host.as_deref(),
        Some("mx.remote.test[127.0.0.2]:25")
    );
    assert!(q.recipients[0].last_attempt.is_some());

    // a late outcome for a recipient whose lease is gone is refused, the rest recorded
    let stale = RecipientUpdate {
        recipient_id: leased[0].id,
        ..update(&leased[0], failed("550"), None)
    };
    // b fails too: the message owes one report for both, and keeps its body for it
    let done = store
        .record_attempt(
            "w",
            &[
                stale,
                update(
                    &leased[1],
                    failed("554 5.7.1 refused"),
                    Some(ReportKind::Failed),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(done.conflicts, vec![leased[0].id]);
    assert_eq!(done.owed, vec![queue_id.clone()]);
    assert!(done.finished.is_empty());
    assert_eq!(
        store.reports_owed(10).await.unwrap(),
        vec![queue_id.clone()]
    );
    let (done, (body, who)) = hand_over(&store, &queue_id).await;
    assert_eq!(done.finished, vec![queue_id.clone()]);
    assert_eq!(done.reports.len(), 1);
    assert_eq!(body, b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(
        who,
        vec![
            ("a@one.test".to_string(), ReportKind::Failed),
            ("b@two.test".to_string(), ReportKind::Failed)
        ]
    );
    assert!(store.queue_get(&queue_id).await.unwrap().is_none());
    assert!(store.reports_owed(10).await.unwrap().is_empty());
    assert_eq!(f.refcount(&hash).await, None);
    // the sender is local: the report is in her INBOX, from <>
    let mb = inbox(&store, &ann).await;
    let entries = store.list_messages(mb.id).await.unwrap();
    assert_eq!(entries.len(), 1);
    let text = store
        .read_message(mb.id, entries[0].uid)
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.starts_with("Return-Path: <>\r\nSubject: report"),
        "{text}"
    );
    assert!(store.queue_list().await.unwrap().is_empty());
}

async fn queue_report_to_outside_sender_and_delay_report(store: Arc<dyn Store>) {
    let m = message("Subject: x\r\n\r\nx\r\n", &[], &["slow@remote.test"]);
    let queue_id = m.queue_id.clone();
    store.accept(m).await.unwrap();
    let leased = store.lease_due("w", now(), 10, 60).await.unwrap();
    let later = now() + 3600;
    let done = store
        .record_attempt(
            "w",
            &[update(
                &leased[0],
                DeliveryOutcome::Deferred {
                    reply: "451 4.3.0 later".into(),
                    next_attempt: later,
                },
                Some(ReportKind::Delayed),
            )],
        )
        .await
        .unwrap();
    assert_eq!(done.owed, vec![queue_id.clone()]);
    // the delay report goes to the outside sender through the queue, from <>
    let (done, _) = hand_over(&store, &queue_id).await;
    assert_eq!(done.reports.len(), 1);
    assert!(done.finished.is_empty(), "the recipient is still waiting");
    let report = store
        .queue_get(&done.reports[0].1)
        .await
        .unwrap()
        .expect("report queued");
    assert_eq!(report.sender, "");
    assert_eq!(report.recipients.len(), 1);
    assert_eq!(report.recipients[0].address, "sender@outside.test");
    // the recipient keeps waiting, marked as reported
    let q = store.queue_get(&queue_id).await.unwrap().expect("queued");
    let r = &q.recipients[0];
    assert_eq!(
        (r.state, r.report, r.delay_reported, r.next_attempt),
        (RecipientState::Deferred, None, true, later)
    );
}

/// A process that stops after recording an outcome that owes a report, before the report
/// is queued: the report is still owed after a restart, its body is still there, and it
/// is queued once however many hand it over.
async fn a_report_owed_at_a_crash_is_sent_once(f: &Fixture) {
    let store = f.store.clone();
    let ann = setup_user(&store, "ann@example.com").await;
    let mut m = message("Subject: lost?\r\n\r\nx\r\n", &[], &["gone@remote.test"]);
    m.sender = ann.address.clone();
    let (queue_id, hash) = (m.queue_id.clone(), body_hash(&m.body));
    store.accept(m).await.unwrap();
    let leased = store.lease_due("w", now(), 10, 60).await.unwrap();
    let bounce = update(&leased[0], failed("550 5.1.1 no"), Some(ReportKind::Failed));
    let done = store.record_attempt("w", &[bounce]).await.unwrap();
    assert_eq!(done.owed, vec![queue_id.clone()]);

    // the process dies here: nothing hands the report over
    let store = f.reopen().await;
    assert_eq!(
        store.reports_owed(10).await.unwrap(),
        vec![queue_id.clone()]
    );
    assert_eq!(
        f.refcount(&hash).await,
        Some(1),
        "the body is kept for the report"
    );
    let owed = store
        .queue_get(&queue_id)
        .await
        .unwrap()
        .expect("still queued");
    let recipients: Vec<(i64, ReportKind)> = owed
        .recipients
        .iter()
        .filter_map(|r| Some((r.id, r.report?)))
        .collect();
    assert_eq!(recipients, vec![(leased[0].id, ReportKind::Failed)]);

    // two hand-overs of the same report (two nodes, say): the first queues it, the second
    // finds the marks gone and queues nothing
    let (done, _) = hand_over(&store, &queue_id).await;
    assert_eq!(done.reports.len(), 1);
    assert_eq!(done.finished, vec![queue_id.clone()]);
    let again = ReportHandover {
        queue_id: queue_id.clone(),
        recipients,
        report: Some(message("twice", &[&ann], &[])),
    };
    let done = store.queue_reports(&[again]).await.unwrap();
    assert_eq!(done.stale, vec![queue_id.clone()]);
    assert!(done.reports.is_empty());
    assert_eq!(
        store
            .list_messages(inbox(&store, &ann).await.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.reports_owed(10).await.unwrap().is_empty());
    assert_eq!(f.refcount(&hash).await, None);
}

async fn queue_operator_commands(f: &Fixture) {
    let store = f.store.clone();
    let signal = store.queue_signal().await.unwrap();
    let m = message(
        "Subject: ops\r\n\r\nx\r\n",
        &[],
        &["a@remote.test", "b@remote.test"],
    );
    let queue_id = m.queue_id.clone();
    let hash = body_hash(&m.body);
    store.accept(m).await.unwrap();
    // accepting remote recipients wakes the scheduler (the wake-up is kept until waited on)
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("woken by accept");
    assert_eq!(
        store.queue_body(&queue_id).await.unwrap().as_deref(),
        Some(&b"Subject: ops\r\n\r\nx\r\n"[..])
    );
    assert_eq!(store.queue_body("NOSUCHID").await.unwrap(), None);
    let t = now();
    assert!(
        store
            .queue_next_due()
            .await
            .unwrap()
            .is_some_and(|d| d <= t)
    );

    // leases: renewed, then released (due again at once)
    let leased = store.lease_due("w", t, 10, 60).await.unwrap();
    assert_eq!(leased.len(), 2);
    assert_eq!(store.queue_next_due().await.unwrap(), Some(t + 61));
    assert_eq!(store.renew_leases("w", t + 600).await.unwrap(), 2);
    assert_eq!(store.queue_next_due().await.unwrap(), Some(t + 601));
    assert_eq!(store.renew_leases("other", t + 600).await.unwrap(), 0);
    assert_eq!(store.release_leases("w").await.unwrap(), 2);
    assert_eq!(store.lease_due("x", t, 10, 60).await.unwrap().len(), 2);

    // deferred far away; retry makes them due now
    let far = t + 86_400;
    let deferred = |r: &QueueRecipient| {
        update(
            r,
            DeliveryOutcome::Deferred {
                reply: "421 4.4.2 gone".into(),
                next_attempt: far,
            },
            None,
        )
    };
    let ups: Vec<RecipientUpdate> = store
        .queue_get(&queue_id)
        .await
        .unwrap()
        .unwrap()
        .recipients
        .iter()
        .map(deferred)
        .collect();
    store.record_attempt("x", &ups).await.unwrap();
    assert_eq!(store.queue_next_due().await.unwrap(), Some(far));
    assert_eq!(store.queue_retry(Some("NOSUCHID")).await.unwrap(), 0);
    assert_eq!(store.queue_retry(Some(&queue_id)).await.unwrap(), 2);
    assert!(
        store
            .queue_next_due()
            .await
            .unwrap()
            .is_some_and(|d| d < far)
    );
    assert_eq!(store.queue_retry(None).await.unwrap(), 2);

    // delete: gone, body released, unknown ids say so
    assert!(store.queue_delete(&queue_id).await.unwrap());
    assert!(!store.queue_delete(&queue_id).await.unwrap());
    assert!(store.queue_get(&queue_id).await.unwrap().is_none());
    assert_eq!(f.refcount(&hash).await, None);
    assert_eq!(store.queue_next_due().await.unwrap(), None);
}

async fn queue_hand_off_to_the_scheduler(store: Arc<dyn Store>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    store.hand_off("sched", 300, 1000, tx);
    let m = message(
        "Subject: h\r\n\r\nx\r\n",
        &[],
        &["a@remote.test", "b@remote.test"],
    );
    let first = m.queue_id.clone();
    store.accept(m).await.unwrap();
    // leased to the scheduler in the acceptance transaction, handed over with its body
    let h = rx.try_recv().expect("handed over after the commit");
    assert_eq!(h.message.id, first);
    assert_eq!(h.body.as_slice(), b"Subject: h\r\n\r\nx\r\n");
    let stored = store.queue_get(&first).await.unwrap().unwrap();
    assert_eq!(h.message.recipients, stored.recipients);
    assert!(
        stored
            .recipients
            .iter()
            .all(|r| r.lease_owner.as_deref() == Some("sched"))
    );
    assert!(
        store
            .lease_due("other", now(), 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    // the second fills the channel; the third finds it full, the fourth is too large:
    // those two are queued as usual, for lease_due
    for (body, to) in [
        ("Subject: 2\r\n\r\nx\r\n".to_string(), "c@remote.test"),
        ("Subject: 3\r\n\r\nx\r\n".to_string(), "d@remote.test"),
        ("x".repeat(2000), "e@remote.test"),
    ] {
        store.accept(message(&body, &[], &[to])).await.unwrap();
    }
    let second = rx.try_recv().expect("second handed over");
    assert_eq!(second.message.recipients[0].address, "c@remote.test");
    assert!(rx.try_recv().is_err());
    let mut leased: Vec<String> = store
        .lease_due("other", now(), 10, 60)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.address)
        .collect();
    leased.sort();
    assert_eq!(leased, vec!["d@remote.test", "e@remote.test"]);
}

async fn change_notification(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let mut changes = store.subscribe().await.unwrap();
    let accepted = store
        .accept(message("notify me", &[&bob], &[]))
        .await
        .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a change within 5 s")
        .unwrap();
    assert_eq!(change.user_id, bob.id);
    assert_eq!(change.mailbox_id, accepted.delivered[0].mailbox_id);
    set_flags(&store, change.mailbox_id, 1, "\\Seen").await;
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.mailbox_id, accepted.delivered[0].mailbox_id);
    // folders, subscriptions and server METADATA: mailbox 0 of the user (IMAP NOTIFY)
    let user_level = MailboxChange {
        user_id: bob.id,
        mailbox_id: 0,
    };
    let folder = store.create_mailbox(bob.id, "Lists", None).await.unwrap();
    assert_eq!(next_change(&mut changes).await, user_level);
    store
        .rename_mailbox(bob.id, "Lists", "Lists2")
        .await
        .unwrap();
    assert_eq!(next_change(&mut changes).await, user_level);
    store.set_subscribed(bob.id, "Lists2", true).await.unwrap();
    assert_eq!(next_change(&mut changes).await, user_level);
    let entry = [("/private/comment".to_string(), Some(b"x".to_vec()))];
    store
        .set_metadata(bob.id, Some(folder.id), &entry, 10)
        .await
        .unwrap();
    let change = next_change(&mut changes).await;
    assert_eq!((change.user_id, change.mailbox_id), (bob.id, folder.id));
    store.set_metadata(bob.id, None, &entry, 10).await.unwrap();
    assert_eq!(next_change(&mut changes).await, user_level);
    store.delete_mailbox(bob.id, "Lists2").await.unwrap();
    // the mailbox's own change, then the folder list's
    assert_eq!(next_change(&mut changes).await.mailbox_id, folder.id);
    assert_eq!(next_change(&mut changes).await, user_level);
}

async fn next_change(
    changes: &mut tokio::sync::broadcast::Receiver<MailboxChange>,
) -> MailboxChange {
    tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a change within 5 s")
        .unwrap()
}

async fn removing_a_user_releases_bodies(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    let a = store
        .accept(message("for both", &[&bob, &ann], &[]))
        .await
        .unwrap();
    let b = store
        .accept(message("bob only", &[&bob], &[]))
        .await
        .unwrap();
    store.remove_user("bob@example.com").await.unwrap();
    assert_eq!(f.refcount(&a.blob_hash).await, Some(1));
    assert_eq!(f.refcount(&b.blob_hash).await, None);
    assert!(store.list_mailboxes(bob.id).await.unwrap().is_empty());
    // the address can be created again, with fresh folders
    let again = setup_user(&store, "bob@example.com").await;
    assert!(
        store
            .list_messages(inbox(&store, &again).await.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Data survives closing and reopening (SQLite file; the PostgreSQL database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_committed_data_sqlite() {
    let f = Fixture::sqlite().await;
    let bob = setup_user(&f.store, "bob@example.com").await;
    let accepted = f
        .store
        .accept(message("kept", &[&bob], &["r@remote.test"]))
        .await
        .unwrap();
    let reopened = f.reopen().await;
    let bob2 = reopened
        .get_user("bob@example.com")
        .await
        .unwrap()
        .expect("user kept");
    let mb = reopened
        .get_mailbox(bob2.id, "INBOX")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mb.uidnext, 2);
    assert!(reopened.read_message(mb.id, 1).await.unwrap().is_some());
    assert!(
        reopened
            .queue_get(&accepted.queue_id)
            .await
            .unwrap()
            .is_some()
    );
    f.finish().await;
}

async fn recent_messages_are_taken_once(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let inbox = inbox(&store, &bob).await;
    assert_eq!(inbox.recent_uid, 0);
    store.accept(message("one", &[&bob], &[])).await.unwrap();
    store.accept(message("two", &[&bob], &[])).await.unwrap();
    // two sessions at once: the messages go to one of them
    let (a, b) = tokio::join!(store.claim_recent(inbox.id), store.claim_recent(inbox.id));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut taken = [a, b];
    taken.sort_unstable();
    assert_eq!(taken, [(0, 2), (2, 2)], "{a:?} {b:?}");
    assert_eq!(
        store
            .mailbox_by_id(inbox.id)
            .await
            .unwrap()
            .unwrap()
            .recent_uid,
        2
    );
    store.accept(message("three", &[&bob], &[])).await.unwrap();
    assert_eq!(store.claim_recent(inbox.id).await.unwrap(), (2, 3));
}

async fn folders_create_rename_delete(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let inbox = inbox(&store, &bob).await;
    let work = store.create_mailbox(bob.id, "Work", None).await.unwrap();
    assert!(work.uidvalidity > inbox.uidvalidity, "a fresh UIDVALIDITY");
    // CREATE does not subscribe (RFC 9051 §6.3.7 keeps the two apart)
    assert_eq!((work.uidnext, work.subscribed), (1, false));
    assert!(
        store
            .subscriptions(bob.id)
            .await
            .unwrap()
            .contains(&"Sent".to_string())
    );
    let e = store
        .create_mailbox(bob.id, "Work", None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "mailbox Work already exists");
    assert!(matches!(
        store.create_mailbox(bob.id, "inbox", None).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.create_mailbox(bob.id, "/bad", None).await,
        Err(StoreError::Invalid(_))
    ));
    store
        .create_mailbox(bob.id, "Work/2026", None)
        .await
        .unwrap();
    store
        .create_mailbox(bob.id, "Workshop", None)
        .await
        .unwrap();

    // rename carries the children, not look-alike siblings
    store.rename_mailbox(bob.id, "Work", "Job").await.unwrap();
    let names: BTreeSet<String> = store
        .list_mailboxes(bob.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.contains("Job") && names.contains("Job/2026") && names.contains("Workshop"),
        "{names:?}"
    );
    assert!(!names.contains("Work") && !names.contains("Work/2026"));
    assert_eq!(
        store
            .get_mailbox(bob.id, "Job")
            .await
            .unwrap()
            .unwrap()
            .uidvalidity,
        work.uidvalidity
    );
    assert!(matches!(
        store.rename_mailbox(bob.id, "Job", "Workshop").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.rename_mailbox(bob.id, "Nope", "Other").await,
        Err(StoreError::NotFound(_))
    ));

    // renaming INBOX moves its messages and leaves it empty
    store.accept(message("one", &[&bob], &[])).await.unwrap();
    store.accept(message("two", &[&bob], &[])).await.unwrap();
    store
        .rename_mailbox(bob.id, "INBOX", "Old mail")
        .await
        .unwrap();
    assert!(store.list_messages(inbox.id).await.unwrap().is_empty());
    let old = store
        .get_mailbox(bob.id, "Old mail")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.list_messages(old.id).await.unwrap().len(), 2);

    // delete releases the bodies; a folder deleted and created again gets a new UIDVALIDITY
    let hash = store.list_messages(old.id).await.unwrap()[0]
        .blob_hash
        .clone();
    store.delete_mailbox(bob.id, "Old mail").await.unwrap();
    assert_eq!(f.refcount(&hash).await, None);
    let again = store
        .create_mailbox(bob.id, "Old mail", None)
        .await
        .unwrap();
    assert_ne!(again.uidvalidity, old.uidvalidity);
    assert!(matches!(
        store.delete_mailbox(bob.id, "INBOX").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.delete_mailbox(bob.id, "Nope").await,
        Err(StoreError::NotFound(_))
    ));

    // subscriptions are by name: with or without a mailbox, kept by DELETE, moved by RENAME
    store.set_subscribed(bob.id, "Job", true).await.unwrap();
    assert!(
        store
            .get_mailbox(bob.id, "Job")
            .await
            .unwrap()
            .unwrap()
            .subscribed
    );
    store.set_subscribed(bob.id, "Not/yet", true).await.unwrap();
    store.rename_mailbox(bob.id, "Job", "Task").await.unwrap();
    assert!(
        store
            .get_mailbox(bob.id, "Task")
            .await
            .unwrap()
            .unwrap()
            .subscribed
    );
    store.delete_mailbox(bob.id, "Task/2026").await.unwrap();
    store.delete_mailbox(bob.id, "Task").await.unwrap();
    let subs = store.subscriptions(bob.id).await.unwrap();
    assert!(
        subs.contains(&"Task".to_string()) && subs.contains(&"Not/yet".to_string()),
        "{subs:?}"
    );
    assert!(!subs.contains(&"Job".to_string()), "{subs:?}");
    store.set_subscribed(bob.id, "Task", false).await.unwrap();
    assert!(
        !store
            .subscriptions(bob.id)
            .await
            .unwrap()
            .contains(&"Task".to_string())
    );

    // a name needs its parents: they are made, and a folder cannot move under itself
    store.create_mailbox(bob.id, "A/B/C", None).await.unwrap();
    for name in ["A", "A/B", "A/B/C"] {
        assert!(
            store.get_mailbox(bob.id, name).await.unwrap().is_some(),
            "{name}"
        );
    }
    store.rename_mailbox(bob.id, "A/B/C", "X/Y").await.unwrap();
    assert!(store.get_mailbox(bob.id, "X").await.unwrap().is_some());
    assert!(matches!(
        store.rename_mailbox(bob.id, "A", "A/Z").await,
        Err(StoreError::Invalid(_))
    ));
}

async fn append_copy_move(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let inbox = inbox(&store, &bob).await;
    let archive = store.get_mailbox(bob.id, "Archive").await.unwrap().unwrap();
    let body = b"Subject: appended\r\n\r\nx\r\n";
    let a = store
        .append(
            inbox.id,
            body,
            &Flags::parse("\\Seen \\Draft \\Seen"),
            1_600_000_000,
        )
        .await
        .unwrap();
    assert_eq!(a.uid, 1);
    let entry = &store.list_messages(inbox.id).await.unwrap()[0];
    assert_eq!(entry.flags.as_str(), "\\Draft \\Seen");
    assert_eq!(entry.internal_date, 1_600_000_000);
    assert_eq!(
        store.read_message(inbox.id, 1).await.unwrap().unwrap(),
        body.to_vec()
    );
    let none = Flags::default();
    store.append(inbox.id, b"second", &none, 1).await.unwrap();
    let hash = entry.blob_hash.clone();

    let copied = store
        .copy_messages(inbox.id, &[2, 1, 99], archive.id)
        .await
        .unwrap();
    assert_eq!(
        copied,
        vec![
            CopiedUid {
                source: 2,
                target: 1
            },
            CopiedUid {
                source: 1,
                target: 2
            }
        ]
    );
    assert_eq!(f.refcount(&hash).await, Some(2), "the body is shared");
    assert_eq!(
        store.list_messages(archive.id).await.unwrap()[1].flags,
        Flags::parse("\\Draft \\Seen")
    );

    let before = store
        .get_mailbox(bob.id, "INBOX")
        .await
        .unwrap()
        .unwrap()
        .highestmodseq;
    let moved = store
        .move_messages(inbox.id, &[1], archive.id)
        .await
        .unwrap();
    assert_eq!(
        moved,
        vec![CopiedUid {
            source: 1,
            target: 3
        }]
    );
    assert_eq!(f.refcount(&hash).await, Some(2), "a move adds no reference");
    let uids: Vec<u32> = store
        .list_messages(inbox.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(uids, vec![2]);
    assert_eq!(
        store.vanished_since(inbox.id, before).await.unwrap(),
        vec![1]
    );
    assert!(
        store
            .vanished_since(inbox.id, before + 100)
            .await
            .unwrap()
            .is_empty()
    );

    let other = setup_user(&store, "ann@example.com").await;
    let theirs = store.get_mailbox(other.id, "INBOX").await.unwrap().unwrap();
    assert!(matches!(
        store.copy_messages(inbox.id, &[2], theirs.id).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn store_flags_and_changes_since(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    for i in 0..3 {
        store
            .accept(message(&format!("m{i}"), &[&bob], &[]))
            .await
            .unwrap();
    }
    let mb = inbox(&store, &bob).await;
    let start = mb.highestmodseq;
    let flags = |v: &[&str]| Flags::new(v.iter().copied());
    let up = store
        .store_flags(
            mb.id,
            &[1, 2],
            FlagChange::Add,
            &flags(&["\\Seen", "$Work"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        up.changed,
        vec![
            (1, Flags::parse("$Work \\Seen")),
            (2, Flags::parse("$Work \\Seen"))
        ]
    );
    assert!(up.modseq > start);
    let changed: Vec<u32> = store
        .changed_since(mb.id, start)
        .await
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(changed, vec![1, 2]);

    let up2 = store
        .store_flags(mb.id, &[1], FlagChange::Remove, &flags(&["$work"]), None)
        .await
        .unwrap();
    assert_eq!(up2.changed, vec![(1, Flags::parse("\\Seen"))]);
    // UNCHANGEDSINCE: message 2 was changed at up.modseq, so a limit below that refuses it
    let up3 = store
        .store_flags(
            mb.id,
            &[2, 3],
            FlagChange::Replace,
            &flags(&["\\Flagged"]),
            Some(up.modseq - 1),
        )
        .await
        .unwrap();
    assert_eq!(up3.modified, vec![2]);
    assert_eq!(up3.changed, vec![(3, Flags::parse("\\Flagged"))]);
    // a STORE that changes nothing leaves the message's MODSEQ alone
    let up4 = store
        .store_flags(mb.id, &[3], FlagChange::Add, &flags(&["\\Flagged"]), None)
        .await
        .unwrap();
    assert!(up4.changed.is_empty());
    let only_three: Vec<u32> = store
        .changed_since(mb.id, up2.modseq)
        .await
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(only_three, vec![3]);
}

/// Several messages in one call: consecutive UIDs, each with its flags and date, the
/// same body twice stored once; over quota, none of them.
async fn append_many_is_all_or_nothing(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let mb = inbox(&store, &bob).await;
    let seen = Flags::new(["\\Seen", "$Label1"]);
    let none = Flags::default();
    let batch = [
        NewMessage {
            message: b"Subject: one\r\n\r\n1\r\n",
            flags: &seen,
            internal_date: 1_000_000,
        },
        NewMessage {
            message: b"Subject: two\r\n\r\n2\r\n",
            flags: &none,
            internal_date: 2_000_000,
        },
        NewMessage {
            message: b"Subject: one\r\n\r\n1\r\n",
            flags: &none,
            internal_date: 3_000_000,
        },
    ];
    let delivered = store.append_many(mb.id, &batch).await.unwrap();
    let uids: Vec<u32> = delivered.iter().map(|d| d.uid).collect();
    assert_eq!(uids, vec![1, 2, 3]);
    assert!(delivered.windows(2).all(|w| w[0].modseq < w[1].modseq));
    let listed = store.list_messages(mb.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed[0].flags.contains("\\Seen") && listed[0].flags.contains("$Label1"));
    assert!(!listed[1].flags.contains("\\Seen"));
    let dates: Vec<i64> = listed.iter().map(|e| e.internal_date).collect();
    assert_eq!(dates, vec![1_000_000, 2_000_000, 3_000_000]);
    assert_eq!(
        store.read_messages(mb.id, 3, 3).await.unwrap()[0].1,
        b"Subject: one\r\n\r\n1\r\n"
    );
    assert!(store.append_many(mb.id, &[]).await.unwrap().is_empty());
    // over quota: the whole lot is refused and takes no UID
    store
        .update_user(
            "bob@example.com",
            UserChanges {
                quota_bytes: Some(100),
                pop3_keep: None,
            },
        )
        .await
        .unwrap();
    let big = [b'x'; 30];
    let over = [
        NewMessage {
            message: &big,
            flags: &none,
            internal_date: 1,
        },
        NewMessage {
            message: &big,
            flags: &none,
            internal_date: 1,
        },
    ];
    let e = store.append_many(mb.id, &over).await.unwrap_err();
    assert!(matches!(e, StoreError::OverQuota(_)), "{e}");
    assert_eq!(store.list_messages(mb.id).await.unwrap().len(), 3);
    assert_eq!(inbox(&store, &bob).await.uidnext, 4);
    store.append_many(mb.id, &over[..1]).await.unwrap();
}

async fn quota_is_enforced(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    store
        .update_user(
            "bob@example.com",
            UserChanges {
                quota_bytes: Some(100),
                pop3_keep: None,
            },
        )
        .await
        .unwrap();
    let mb = inbox(&store, &bob).await;
    let sent = store.get_mailbox(bob.id, "Sent").await.unwrap().unwrap();
    let none = Flags::default();
    store.append(mb.id, &[b'a'; 60], &none, 1).await.unwrap();
    assert_eq!(store.quota_usage(bob.id).await.unwrap(), (60, 1));
    let e = store
        .append(mb.id, &[b'b'; 60], &none, 1)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::OverQuota(_)), "{e}");
    assert!(matches!(
        store.copy_messages(mb.id, &[1], sent.id).await,
        Err(StoreError::OverQuota(_))
    ));
    assert_eq!(
        store.quota_usage(bob.id).await.unwrap(),
        (60, 1),
        "nothing stored by the refused calls"
    );
    assert_eq!(
        inbox(&store, &bob).await.uidnext,
        2,
        "a refused APPEND takes no UID"
    );
}

/// METADATA (RFC 5464): server and mailbox entries per user, private and shared apart,
/// NIL removes, the bound on entries is all or nothing, entries follow RENAME and go
/// with DELETE and with the user.
async fn metadata_entries(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let alice = setup_user(&store, "alice@example.com").await;
    let work = store.create_mailbox(bob.id, "Work", None).await.unwrap();
    let set = |name: &str, value: Option<&[u8]>| (name.to_string(), value.map(<[u8]>::to_vec));
    assert!(
        store
            .set_metadata(
                bob.id,
                None,
                &[
                    set("/private/comment", Some(b"mine")),
                    set("/shared/comment", Some(b"ours")),
                ],
                3,
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .set_metadata(
                bob.id,
                Some(work.id),
                &[set("/private/comment", Some(&[0, 255, 10]))],
                3
            )
            .await
            .unwrap()
    );
    let server = store.metadata(bob.id, None).await.unwrap();
    assert_eq!(
        server,
        vec![
            ("/private/comment".to_string(), b"mine".to_vec()),
            ("/shared/comment".to_string(), b"ours".to_vec()),
        ]
    );
    assert_eq!(
        store.metadata(bob.id, Some(work.id)).await.unwrap(),
        vec![("/private/comment".to_string(), vec![0, 255, 10])],
        "binary values kept as they are"
    );
    assert!(
        store.metadata(alice.id, None).await.unwrap().is_empty(),
        "per user"
    );

    // over the bound: nothing of the command is kept
    assert!(
        !store
            .set_metadata(
                bob.id,
                None,
                &[
                    set("/private/comment", Some(b"changed")),
                    set("/private/a", Some(b"1")),
                    set("/private/b", Some(b"2")),
                ],
                3,
            )
            .await
            .unwrap()
    );
    assert_eq!(store.metadata(bob.id, None).await.unwrap(), server);
    // a replacement and a removal in one command
    assert!(
        store
            .set_metadata(
                bob.id,
                None,
                &[
                    set("/private/comment", Some(b"new")),
                    set("/shared/comment", None)
                ],
                3,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.metadata(bob.id, None).await.unwrap(),
        vec![("/private/comment".to_string(), b"new".to_vec())]
    );

    // RENAME keeps them, DELETE drops them (a new mailbox of the name starts empty)
    store.rename_mailbox(bob.id, "Work", "Job").await.unwrap();
    let job = store.get_mailbox(bob.id, "Job").await.unwrap().unwrap();
    assert_eq!(store.metadata(bob.id, Some(job.id)).await.unwrap().len(), 1);
    store.delete_mailbox(bob.id, "Job").await.unwrap();
    assert!(
        store
            .metadata(bob.id, Some(job.id))
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.create_mailbox(bob.id, "Job", None).await.unwrap();
    assert!(
        store
            .metadata(bob.id, Some(again.id))
            .await
            .unwrap()
            .is_empty()
    );

    // and removing the user removes the user's entries
    store.remove_user("bob@example.com").await.unwrap();
    assert!(store.metadata(bob.id, None).await.unwrap().is_empty());
}

/// Indexes every body waiting for the search index.
async fn index_all(store: &Arc<dyn Store>) {
    while store.index_pending(INDEX_BATCH).await.unwrap() > 0 {}
}

/// The search indexer and a folder's deletion meet on the same bodies (imaptest's
/// DELETE of its test folder while the indexer works on what it appended): neither
/// fails. On PostgreSQL the two once locked a body's rows in opposite orders and the
/// deadlock detector aborted the DELETE.
async fn indexing_and_deleting_the_same_bodies_both_succeed(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let filler = "lorem ipsum dolor sit amet ".repeat(300);
    let (done_tx, done) = tokio::sync::watch::channel(false);
    // the indexer works without pause for as long as folders come and go
    let indexer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut batches = 0u32;
            while !*done.borrow() {
                if store.index_pending(INDEX_BATCH).await? > 0 {
                    batches += 1;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            Ok::<_, StoreError>(batches)
        })
    };
    let none = Flags::default();
    for round in 0..20 {
        let mb = store.create_mailbox(bob.id, "race", None).await.unwrap();
        for i in 0..INDEX_BATCH * 2 {
            let body = format!("Subject: {round}/{i}\r\n\r\n{round} {i} {filler}\r\n");
            store
                .append(mb.id, body.as_bytes(), &none, 1)
                .await
                .unwrap();
        }
        let deleted = store.delete_mailbox(bob.id, "race").await;
        assert!(deleted.is_ok(), "round {round}: DELETE failed: {deleted:?}");
        assert!(store.get_mailbox(bob.id, "race").await.unwrap().is_none());
    }
    done_tx.send(true).unwrap();
    let batches = indexer.await.unwrap();
    assert!(batches.is_ok(), "indexer failed: {batches:?}");
    // nothing of the deleted bodies is left behind
    while store.index_pending(INDEX_BATCH).await.unwrap() > 0 {}
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM search_docs").await, 0);
}

async fn search_index_narrows_and_follows_bodies(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    let mbox = inbox(&store, &bob).await.id;
    let bodies = [
        "Subject: Alpha\r\n\r\nThe quick brown FOX\r\n".to_string(),
        // "Hidden Treasure, 50% off_now" in base64
        "Subject: b64\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         SGlkZGVuIFRyZWFzdXJlLCA1MCUgb2ZmX25vdw==\r\n"
            .to_string(),
        "Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 CR=C3=88ME br=\r\nul=C3=A9e\r\n"
            .to_string(),
        "Subject: odd \"NEAR\" OR -x:y* (a b)\r\n\r\nplain\r\n".to_string(),
    ];
    for b in &bodies {
        store.accept(message(b, &[&bob], &[])).await.unwrap();
    }
    let find = |needle: &str, scope| {
        let store = store.clone();
        let needle = needle.to_string();
        async move { store.search_candidates(mbox, &needle, scope).await.unwrap() }
    };
    use SearchScope::{Body, Text};
    // not indexed yet: every message may match
    assert_eq!(find("fox", Body).await, Some(vec![1, 2, 3, 4]));
    index_all(&store).await;
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 0);
    assert_eq!(find("fOx", Body).await, Some(vec![1]));
    assert_eq!(find("quick brown", Text).await, Some(vec![1]));
    assert_eq!(find("treasure", Body).await, Some(vec![2]));
    assert_eq!(find("50% off_now", Body).await, Some(vec![2]));
    assert_eq!(find("ure, 50% o", Body).await, Some(vec![2]));
    // the raw (encoded) text is TEXT's, not BODY's
    assert_eq!(find("sglkzgvu", Text).await, Some(vec![2]));
    assert_eq!(find("sglkzgvu", Body).await, Some(vec![]));
    assert_eq!(find("Crème brulée", Body).await, Some(vec![3]));
    assert_eq!(find("subject: alpha", Body).await, Some(vec![]));
    assert_eq!(find("nowhere", Text).await, Some(vec![]));
    // too short to look up: the caller scans
    assert_eq!(find("ox", Body).await, None);
    // the per-recipient prefix (Return-Path:) is TEXT's too
    assert_eq!(find("SENDER@outside", Text).await, Some(vec![1, 2, 3, 4]));
    assert_eq!(find("SENDER@outside", Body).await, Some(vec![]));
    // query syntax in the string is only text
    assert_eq!(find("\"near\" or -x:y* (a", Text).await, Some(vec![4]));
    for hostile in [
        "\"",
        "\"\"\"",
        "NEAR(a b)",
        "* OR *",
        "-x",
        "raw : x",
        "body:plain",
        "a\" OR \"b",
        "x*",
        "^abc",
        "{raw body}: x",
        "%%%",
        "___",
        "\\\\\\",
        "'; DROP TABLE blobs; --",
    ] {
        let found = find(hostile, Text).await;
        assert!(
            found.as_ref().is_none_or(|v| v.is_empty() || v == &[4]),
            "{hostile:?}: {found:?}"
        );
    }
    let huge = "quick ".repeat(64 * 1024 / 6);
    assert!(find(&huge, Text).await.is_none_or(|v| v.len() <= 1));

    // a body too long to keep is always a candidate
    let long = format!("Subject: long\r\n\r\n{}\r\n", "lorem ipsum ".repeat(30_000));
    store.accept(message(&long, &[&bob], &[])).await.unwrap();
    index_all(&store).await;
    assert_eq!(find("nowhere", Body).await, Some(vec![5]));
    assert_eq!(find("fox", Text).await, Some(vec![1, 5]));

    // the index goes with its body, and comes back with it
    let docs = f.count("SELECT COUNT(*) FROM search_docs").await;
    store.expunge(mbox, &[1]).await.unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM search_docs").await, docs - 1);
    if f.is_sqlite() {
        // the FTS rows too (the trigger); a match would find no doc, but must not linger
        assert_eq!(f.count("SELECT COUNT(*) FROM search_fts").await, docs - 1);
    }
    assert_eq!(find("fox", Body).await, Some(vec![5]));
    store
        .accept(message(&bodies[0], &[&bob], &[]))
        .await
        .unwrap();
    assert_eq!(find("fox", Body).await, Some(vec![5, 6]));
    index_all(&store).await;
    // (5 is a candidate of every BODY search: its text is too long to keep)
    assert_eq!(find("fox", Body).await, Some(vec![5, 6]));
    assert_eq!(find("brown fox", Text).await, Some(vec![5, 6]));
    assert_eq!(find("lorem", Text).await, Some(vec![5]));
    // a body shared by two folders is indexed once and found in each
    let other = store
        .create_mailbox(bob.id, "Other", None)
        .await
        .unwrap()
        .id;
    store.copy_messages(mbox, &[6], other).await.unwrap();
    assert_eq!(store.index_pending(INDEX_BATCH).await.unwrap(), 0);
    let in_other = store.search_candidates(other, "fox", Body).await.unwrap();
    assert_eq!(in_other, Some(vec![1]));
    // APPEND waits for the indexer like delivery
    store
        .append(
            other,
            b"Subject: appended\r\n\r\nzebra\r\n",
            &Flags::default(),
            0,
        )
        .await
        .unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 1);
    assert_eq!(
        store.search_candidates(other, "fox", Body).await.unwrap(),
        Some(vec![1, 2])
    );
    index_all(&store).await;
    assert_eq!(
        store.search_candidates(other, "fox", Body).await.unwrap(),
        Some(vec![1])
    );
    assert_eq!(
        store.search_candidates(other, "zebra", Body).await.unwrap(),
        Some(vec![2])
    );

    // a body only queued for elsewhere is never indexed (nobody searches it); when a
    // mailbox takes the same body later, it waits for the indexer and SEARCH finds it
    let relayed = "Subject: relayed\r\n\r\nwalrus\r\n";
    store
        .accept(message(relayed, &[], &["x@elsewhere.example"]))
        .await
        .unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 0);
    assert_eq!(store.index_pending(INDEX_BATCH).await.unwrap(), 0);
    store.accept(message(relayed, &[&bob], &[])).await.unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 1);
    // (5 stays a candidate of every BODY search, as above)
    assert_eq!(find("walrus", Body).await, Some(vec![5, 7]));
    index_all(&store).await;
    assert_eq!(find("walrus", Body).await, Some(vec![5, 7]));
    assert_eq!(find("fox", Body).await, Some(vec![5, 6]));
    // already indexed: a third copy does not wait again
    store.accept(message(relayed, &[&bob], &[])).await.unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM search_pending").await, 0);
    assert_eq!(find("walrus", Body).await, Some(vec![5, 7, 8]));
}

/// A body over 1 MiB is kept in pieces of 1 MiB: whole reads put it back together
/// (mailbox and queue), a range reads across the seams between pieces, and the pieces
/// go with the body.
async fn large_bodies_are_kept_in_pieces(f: &Fixture) {
    const MIB: usize = 1 << 20;
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    // every line differs, so that a piece out of place shows
    let text = |n: usize, tag: &str| -> String {
        let mut t = format!("Subject: {tag}\r\n\r\n");
        let mut i = 0;
        while t.len() < n {
            t.push_str(&format!("{tag} line {i:08}\r\n"));
            i += 1;
        }
        t
    };
    let big = text(3 * MIB + MIB / 2, "big");
    let accepted = store
        .accept(message(&big, &[&bob], &["carol@remote.test"]))
        .await
        .unwrap();
    let pieces = "SELECT COUNT(*) FROM blob_chunks";
    assert_eq!(f.count(pieces).await, 4);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM blobs WHERE length(data) = 0 AND size > 0")
            .await,
        1
    );
    let mb = inbox(&store, &bob).await;
    let uid = accepted.delivered[0].uid;
    let whole = store.read_message(mb.id, uid).await.unwrap().unwrap();
    let prefix = whole.len() - big.len();
    assert_eq!(&whole[prefix..], big.as_bytes());
    let listed = store.read_messages(mb.id, uid, uid).await.unwrap();
    assert_eq!(listed, vec![(uid, whole.clone())]);
    assert_eq!(
        store.queue_body(&accepted.queue_id).await.unwrap().unwrap(),
        big.as_bytes()
    );
    // ranges across the prefix, the seams of the pieces, and the end
    let p = prefix as u64;
    let m = MIB as u64;
    for (start, len) in [
        (0u64, 10u64),
        (p - 2, 5),
        (p + m - 3, 7),
        (p + m, m),
        (p + 2 * m - 1, 2 * m + 2),
        (p + 3 * m + 5, 10 * m),
        (whole.len() as u64 - 1, 5),
        (whole.len() as u64, 5),
        (0, u64::MAX),
    ] {
        let got = store
            .read_message_range(mb.id, uid, start, len)
            .await
            .unwrap()
            .unwrap();
        let s = start.min(whole.len() as u64) as usize;
        let e = s
            .saturating_add(len.min(usize::MAX as u64) as usize)
            .min(whole.len());
        assert!(got == whole[s..e], "{start}+{len}: {} octets", got.len());
    }
    // a second large body, delivered and expunged: its pieces go with it
    let other = text(2 * MIB + 10, "other");
    let second = store.accept(message(&other, &[&bob], &[])).await.unwrap();
    assert_eq!(f.count(pieces).await, 7);
    let deleted = Flags::parse("\\Deleted");
    let uid2 = second.delivered[0].uid;
    store
        .store_flags(mb.id, &[uid2], FlagChange::Add, &deleted, None)
        .await
        .unwrap();
    store.expunge_deleted(mb.id, &[uid2]).await.unwrap();
    assert_eq!(f.refcount(&second.blob_hash).await, None);
    assert_eq!(f.count(pieces).await, 4);
}

/// Sieve scripts: stored and replaced by name, one active, the active one not deleted,
/// renames, the per-user bounds, the folders `fileinto :create` makes in the accept
/// transaction, and Sieve's memory until it expires; all gone with the user.
async fn sieve_scripts_one_active_bounded_and_remembered(f: &Fixture) {
    let store = f.store.clone();
    let bob = setup_user(&store, "bob@example.com").await;
    store
        .put_sieve_script(bob.id, "a", "keep;", 3, 100)
        .await
        .unwrap();
    store
        .put_sieve_script(bob.id, "b", "discard;", 3, 100)
        .await
        .unwrap();
    store
        .put_sieve_script(bob.id, "a", "keep; keep;", 3, 100)
        .await
        .unwrap();
    // sizes are octets, not characters
    store
        .put_sieve_script(bob.id, "u", "# café\n", 3, 100)
        .await
        .unwrap();
    let listed = store.sieve_scripts(bob.id).await.unwrap();
    assert_eq!(listed.iter().find(|s| s.name == "u").unwrap().size, 8);
    store.delete_sieve_script(bob.id, "u").await.unwrap();
    assert_eq!(
        store.sieve_script(bob.id, "a").await.unwrap().as_deref(),
        Some("keep; keep;")
    );
    // bounds: a fourth script, or more octets than allowed in all
    assert!(matches!(
        store.put_sieve_script(bob.id, "c", "x", 2, 100).await,
        Err(StoreError::OverQuota(_))
    ));
    assert!(matches!(
        store
            .put_sieve_script(bob.id, "c", &"x".repeat(90), 3, 100)
            .await,
        Err(StoreError::OverQuota(_))
    ));
    assert!(store.sieve_space(bob.id, "c", 80, 3, 100).await.unwrap());
    assert!(!store.sieve_space(bob.id, "c", 90, 3, 100).await.unwrap());
    // replacing a script counts its new size only
    assert!(store.sieve_space(bob.id, "a", 92, 3, 100).await.unwrap());
    store
        .activate_sieve_script(bob.id, Some("a"))
        .await
        .unwrap();
    store
        .activate_sieve_script(bob.id, Some("b"))
        .await
        .unwrap();
    let listed = store.sieve_scripts(bob.id).await.unwrap();
    let active: Vec<&str> = listed
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, ["b"]);
    assert_eq!(listed.iter().find(|s| s.name == "a").unwrap().size, 11);
    assert!(matches!(
        store.delete_sieve_script(bob.id, "b").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.activate_sieve_script(bob.id, Some("nope")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.rename_sieve_script(bob.id, "a", "b").await,
        Err(StoreError::AlreadyExists(_))
    ));
    store
        .rename_sieve_script(bob.id, "b", "main")
        .await
        .unwrap();
    let active = store
        .active_sieve_scripts(&[bob.id, 999_999])
        .await
        .unwrap();
    assert_eq!(
        active,
        vec![(bob.id, "main".to_string(), "discard;".to_string())]
    );
    store
        .set_sieve_error(bob.id, "main", Some("line 1: oops"))
        .await
        .unwrap();
    let listed = store.sieve_scripts(bob.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|s| s.name == "main")
            .unwrap()
            .last_error
            .as_deref(),
        Some("line 1: oops")
    );
    store.activate_sieve_script(bob.id, None).await.unwrap();
    assert!(
        store
            .active_sieve_scripts(&[bob.id])
            .await
            .unwrap()
            .is_empty()
    );
    store.delete_sieve_script(bob.id, "main").await.unwrap();
    assert!(matches!(
        store.delete_sieve_script(bob.id, "main").await,
        Err(StoreError::NotFound(_))
    ));

    // memory: until it expires, per kind
    store
        .sieve_remember(bob.id, "vacation", "k1", 200, 100)
        .await
        .unwrap();
    assert!(
        store
            .sieve_remembers(bob.id, "vacation", "k1", 150)
            .await
            .unwrap()
    );
    assert!(
        !store
            .sieve_remembers(bob.id, "duplicate", "k1", 150)
            .await
            .unwrap()
    );
    assert!(
        !store
            .sieve_remembers(bob.id, "vacation", "k1", 200)
            .await
            .unwrap()
    );
    store
        .sieve_remember(bob.id, "vacation", "k1", 400, 300)
        .await
        .unwrap();
    // once: not while remembered, again once expired
    let once = |key: &'static str, until: i64, now: i64| {
        let store = store.clone();
        async move {
            store
                .sieve_remember_once(bob.id, "vacation", key, until, now)
                .await
                .unwrap()
        }
    };
    assert!(!once("k1", 900, 350).await);
    assert!(once("k2", 900, 350).await);
    assert!(!once("k2", 900, 360).await);
    assert!(once("k2", 1900, 900).await);
    assert!(
        store
            .sieve_remembers(bob.id, "vacation", "k1", 350)
            .await
            .unwrap()
    );

    // fileinto: a folder that exists, one made with its parents, one that is not there
    let mut m = message(
        "Subject: filed\r\n\r\nx\r\n",
        &[&bob, &bob, &bob, &bob, &bob],
        &[],
    );
    // a NUL (a sender's, through a script's variable) and a ninth level: INBOX, and the
    // transaction goes through (on PostgreSQL a NUL would have aborted it)
    m.local[3].folder = Some("lists/a\0b".into());
    m.local[3].create = true;
    m.local[4].folder = Some("a/b/c/d/e/f/g/h/i".into());
    m.local[4].create = true;
    m.local[0].folder = Some("Archive/2026".into());
    m.local[0].create = true;
    m.local[0].flags = estafeta_store::Flags::new(["\\Flagged"]);
    m.local[1].folder = Some("Missing".into());
    m.local[2].folder = Some("inbox".into());
    store.accept(m).await.unwrap();
    let archive = store
        .get_mailbox(bob.id, "Archive/2026")
        .await
        .unwrap()
        .expect("made");
    assert!(
        store
            .get_mailbox(bob.id, "Archive")
            .await
            .unwrap()
            .is_some(),
        "its parent too"
    );
    let filed = store.list_messages(archive.id).await.unwrap();
    assert_eq!(filed.len(), 1);
    assert!(filed[0].flags.contains("\\Flagged"));
    assert!(
        store
            .get_mailbox(bob.id, "Missing")
            .await
            .unwrap()
            .is_none()
    );
    let inbox = store.get_mailbox(bob.id, "INBOX").await.unwrap().unwrap();
    assert_eq!(
        store.list_messages(inbox.id).await.unwrap().len(),
        4,
        "the copies for a missing folder, INBOX, a bad name and a too deep one"
    );
    assert!(store.get_mailbox(bob.id, "a").await.unwrap().is_none());

    store
        .put_sieve_script(bob.id, "left", "keep;", 3, 100)
        .await
        .unwrap();
    store.remove_user("bob@example.com").await.unwrap();
    let again = setup_user(&store, "bob@example.com").await;
    assert!(store.sieve_scripts(again.id).await.unwrap().is_empty());
    assert!(
        !store
            .sieve_remembers(again.id, "vacation", "k1", 350)
            .await
            .unwrap()
    );
}

/// JMAP's view (`Emails`): a user's copies by body across folders, a mailbox's bodies a
/// page at a time by date (copies counted once), and expunged copies with their body.
async fn jmap_emails_across_folders(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    let inbox_id = inbox(&store, &bob).await.id;
    let mut hashes = Vec::new();
    for i in 0..5 {
        let mut m = message(
            &format!("Subject: {i}\r\n\r\nbody {i}\r\n"),
            &[&bob, &ann],
            &[],
        );
        m.internal_date = 1_700_000_000 + i;
        hashes.push(estafeta_store::body_hash(&m.body));
        store.accept(m).await.unwrap();
    }
    let archive = store.get_mailbox(bob.id, "Archive").await.unwrap().unwrap();
    // a copy in another folder and a second copy in the INBOX: still five bodies
    store
        .copy_messages(inbox_id, &[1], archive.id)
        .await
        .unwrap();
    store.copy_messages(inbox_id, &[2], inbox_id).await.unwrap();
    let all = store.user_messages(bob.id).await.unwrap();
    assert_eq!(all.len(), 7);
    assert!(
        all.windows(2)
            .all(|w| (w[0].mailbox_id, w[0].uid) < (w[1].mailbox_id, w[1].uid))
    );
    let copies = store.messages_by_hash(bob.id, &hashes[..1]).await.unwrap();
    assert_eq!(
        copies.iter().map(|c| c.mailbox_id).collect::<Vec<_>>(),
        vec![inbox_id, archive.id]
    );
    assert!(
        store
            .messages_by_hash(bob.id, &["0".repeat(64)])
            .await
            .unwrap()
            .is_empty()
    );
    // ann's copies are hers only
    assert_eq!(
        store.messages_by_hash(ann.id, &hashes).await.unwrap().len(),
        5
    );
    assert_eq!(store.mailbox_email_count(inbox_id).await.unwrap(), 5);
    let newest = store.mailbox_emails(inbox_id, true, 0, 2).await.unwrap();
    assert_eq!(
        newest,
        vec![
            (hashes[4].clone(), 1_700_000_004),
            (hashes[3].clone(), 1_700_000_003)
        ]
    );
    let next = store.mailbox_emails(inbox_id, true, 2, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
        vec![hashes[2].clone(), hashes[1].clone(), hashes[0].clone()]
    );
    let oldest = store.mailbox_emails(inbox_id, false, 0, 1).await.unwrap();
    assert_eq!(oldest[0].0, hashes[0]);
    // expunged copies keep their body's hash
    let before = inbox(&store, &bob).await.highestmodseq;
    store.expunge(inbox_id, &[2]).await.unwrap();
    store
        .move_messages(inbox_id, &[3], archive.id)
        .await
        .unwrap();
    let gone = store.expunged_since(inbox_id, before).await.unwrap();
    assert_eq!(
        gone,
        vec![(2, Some(hashes[1].clone())), (3, Some(hashes[2].clone()))]
    );
    assert!(
        store
            .expunged_since(inbox_id, inbox(&store, &bob).await.highestmodseq)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Uploads: read back by their owner only, bounded per user, gone after a day.
async fn jmap_uploads_are_bounded_and_expire(store: Arc<dyn Store>) {
    let bob = setup_user(&store, "bob@example.com").await;
    let ann = setup_user(&store, "ann@example.com").await;
    let now = 1_800_000_000;
    store
        .put_upload(bob.id, "a1", "application/pdf", b"0123456789", now, 25)
        .await
        .unwrap();
    store
        .put_upload(bob.id, "a2", "text/plain", b"0123456789", now, 25)
        .await
        .unwrap();
    let over = store
        .put_upload(bob.id, "a3", "text/plain", b"0123456789", now, 25)
        .await;
    assert!(
        matches!(over, Err(estafeta_store::StoreError::OverQuota(_))),
        "{over:?}"
    );
    // ann's allowance is her own
    store
        .put_upload(ann.id, "b1", "text/plain", b"0123456789", now, 25)
        .await
        .unwrap();
    let got = store.upload(bob.id, "a1", now).await.unwrap().unwrap();
    assert_eq!(
        (got.content_type.as_str(), got.data.as_slice()),
        ("application/pdf", &b"0123456789"[..])
    );
    assert_eq!(
        store.upload(ann.id, "a1", now).await.unwrap(),
        None,
        "not ann's"
    );
    let later = now + estafeta_store::UPLOAD_LIFETIME_SECS + 1;
    assert_eq!(
        store.upload(bob.id, "a1", later).await.unwrap(),
        None,
        "expired"
    );
    // an upload a day later clears the old ones, and their room
    store
        .put_upload(
            bob.id,
            "a4",
            "text/plain",
            b"01234567890123456789",
            later,
            25,
        )
        .await
        .unwrap();
    assert!(store.upload(bob.id, "a4", later).await.unwrap().is_some());
}
