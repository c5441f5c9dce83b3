//! Which PostgreSQL server the tests may use: the URL in `ESTAFETA_TEST_POSTGRES`. When it
//! is unset the PostgreSQL tests are skipped, and each says so on the test output (written
//! past libtest's capture, so that a passing run shows what it did not test); under
//! `CI=true` (set by `.ci/run`) an unset URL fails the test instead, so a CI run can never
//! pass without PostgreSQL.

use std::io::Write;

/// The admin URL of the PostgreSQL server for tests, or `None` (and a visible note) when
/// there is none to use.
pub fn url() -> Option<String> {
    if let Ok(url) = std::env::var("ESTAFETA_TEST_POSTGRES")
        && !url.is_empty()
    {
        return Some(url);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_string();
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "{test}: ESTAFETA_TEST_POSTGRES is not set under CI=true; the PostgreSQL tests must run in CI"
        );
    }
    // straight to the process's stderr: libtest captures only print!/eprint!
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: ESTAFETA_TEST_POSTGRES is not set (a URL such as postgres://postgres@127.0.0.1:5432/test runs it)"
    );
    None
}
