//! The failed-login throttle and the command budget before authentication, over real
//! sockets: a valid login in the loop does not reset the address's count, parallel
//! sessions cannot get more password verdicts than the limit, and a client over its
//! command budget gets `421 4.7.0`.

mod common;

use common::*;

const ANN_PASSWORD: &str = "ann-password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_holds_with_a_valid_login_in_the_loop() {
    let h = Harness::with(|c| {
        c.auth.max_failures = 5;
        c.auth.max_failures_per_address = 8;
    })
    .await;
    let mut verdicts = 0;
    let mut blocked = false;
    // four guesses, one good login with another account, again and again
    'rounds: for round in 0..5 {
        let (mut c, _) = Client::connect_tls(h.submissions).await;
        c.cmd("EHLO guesser.test").await;
        for guess in 0..4 {
            let user = if guess % 2 == 0 {
                "ann@example.com"
            } else {
                "nobody@example.com"
            };
            let r = c.auth_plain(user, &format!("guess-{round}-{guess}")).await;
            if r.starts_with("454 4.7.0") {
                blocked = true;
                break 'rounds;
            }
            assert!(r.starts_with("535 5.7.8"), "{r}");
            verdicts += 1;
        }
        let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
        if r.starts_with("454 4.7.0") {
            blocked = true;
            break;
        }
        assert!(r.starts_with("235"), "{r}");
    }
    assert!(blocked, "the address was blocked");
    assert_eq!(
        verdicts, 8,
        "no more guesses than auth.max_failures_per_address"
    );
    // blocked for everyone at that address, even with the right password
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO laptop.test").await;
    assert_eq!(
        c.auth_plain("bob@example.com", BOB_PASSWORD).await,
        "454 4.7.0 Too many failed authentication attempts, try again later\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_blocked_on_its_own_and_a_success_clears_only_its_count() {
    let h = Harness::with(|c| {
        c.auth.max_failures = 2;
        c.auth.max_failures_per_address = 10;
    })
    .await;
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO laptop.test").await;
    assert!(
        c.auth_plain("ann@example.com", "x")
            .await
            .starts_with("535")
    );
    assert!(
        c.auth_plain("bob@example.com", "y")
            .await
            .starts_with("535")
    );
    assert!(
        c.auth_plain("ann@example.com", "z")
            .await
            .starts_with("535")
    );
    // ann from this address is blocked, even with her password; bob is not
    let r = c.auth_plain("ann@example.com", ANN_PASSWORD).await;
    assert!(r.starts_with("454 4.7.0"), "{r}");
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("235")
    );
    // bob's success cleared bob's failure, not ann's
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO laptop.test").await;
    assert!(
        c.auth_plain("ann@example.com", ANN_PASSWORD)
            .await
            .starts_with("454")
    );
    assert!(
        c.auth_plain("bob@example.com", "y2")
            .await
            .starts_with("535")
    );
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("235")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sessions_get_no_more_verdicts_than_the_limit() {
    const SESSIONS: usize = 12;
    let h = Harness::with(|c| {
        c.auth.max_failures = 3;
        c.auth.max_failures_per_address = 3;
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        let (mut c, _) = Client::connect_tls(h.submissions).await;
        c.cmd("EHLO guesser.test").await;
        clients.push(c);
    }
    // every session sends its guess before any reply is read
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move { c.auth_plain("bob@example.com", &format!("guess{i}")).await })
        })
        .collect();
    let mut failed = 0;
    let mut refused = 0;
    for t in tasks {
        let r = t.await.expect("task");
        if r.starts_with("535 5.7.8") {
            failed += 1;
        } else if r.starts_with("454 4.7.0") {
            refused += 1;
        } else {
            panic!("unexpected reply {r}");
        }
    }
    assert_eq!(failed, 3, "password verdicts");
    assert_eq!(refused, SESSIONS - 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_command_budget_before_auth_gets_421() {
    let h = Harness::with(|c| c.smtp.unauthenticated_commands_per_minute = 10).await;
    let (mut c, _) = Client::connect(h.mx).await;
    assert!(c.cmd("EHLO sender.test").await.starts_with("250"));
    for _ in 0..4 {
        assert!(c.cmd("MAIL FROM:<a@sender.test>").await.starts_with("250"));
        assert!(c.cmd("RSET").await.starts_with("250"));
    }
    assert!(c.cmd("NOOP").await.starts_with("250"), "the 10th command");
    assert_eq!(
        c.cmd("MAIL FROM:<a@sender.test>").await,
        "421 4.7.0 mail.test Error: too many commands, try again later\r\n"
    );
    assert_eq!(c.reply().await, "", "closed");
    // the budget is the address's, over all its sessions
    let (mut c, g) = Client::connect(h.mx).await;
    assert!(g.starts_with("220"));
    assert!(c.cmd("EHLO sender.test").await.starts_with("421 4.7.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_sessions_and_trusted_networks_have_no_command_budget() {
    let h = Harness::with(|c| c.smtp.unauthenticated_commands_per_minute = 4).await;
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO laptop.test").await;
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("235")
    );
    for _ in 0..20 {
        assert!(c.cmd("NOOP").await.starts_with("250"));
    }
    // two commands were counted before AUTH succeeded: two left for the address
    let (mut c, _) = Client::connect(h.mx).await;
    assert!(c.cmd("EHLO sender.test").await.starts_with("250"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(c.cmd("NOOP").await.starts_with("421 4.7.0"));

    let h = Harness::with(|c| {
        c.smtp.unauthenticated_commands_per_minute = 4;
        c.smtp.trusted_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    let (mut c, _) = Client::connect(h.mx).await;
    for _ in 0..20 {
        assert!(c.cmd("NOOP").await.starts_with("250"));
    }
}
