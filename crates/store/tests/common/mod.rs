//! Test fixtures: a store on a fresh SQLite file, or on a fresh PostgreSQL database
//! created for the test (and dropped after it) when `ESTAFETA_TEST_POSTGRES` is set.

use std::sync::Arc;

use estafeta_store::{Backend, Store, StoreOptions};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor, PgConnection};

pub struct Fixture {
    pub store: Arc<dyn Store>,
    options: StoreOptions,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = StoreOptions {
            backend: Backend::Sqlite {
                path: dir.path().join("estafeta.db"),
            },
            max_connections: 8,
        };
        let store = estafeta_store::open(&options)
            .await
            .expect("open sqlite store");
        Fixture {
            store,
            options,
            _dir: Some(dir),
            postgres: None,
        }
    }

    pub async fn postgres() -> Option<Fixture> {
        let admin = estafeta_testkit::postgres::url()?;
        let name = format!("estafeta_test_{:016x}", rand_u64());
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("connect to ESTAFETA_TEST_POSTGRES");
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        let options = StoreOptions {
            backend: Backend::Postgres { url },
            max_connections: 8,
        };
        let store = estafeta_store::open(&options)
            .await
            .expect("open postgres store");
        Some(Fixture {
            store,
            options,
            _dir: None,
            postgres: Some((admin, name)),
        })
    }

    /// Closes the store and opens it again on the same data.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        self.store.close().await;
        estafeta_store::open(&self.options)
            .await
            .expect("reopen store")
    }

    /// How many references the body `hash` has, `None` once it is deleted: read from the
    /// database itself, since no trait tells (nothing but tests needs to know).
    pub async fn refcount(&self, hash: &str) -> Option<i64> {
        let url = match &self.options.backend {
            Backend::Sqlite { path } => format!("sqlite://{}", path.display()),
            Backend::Postgres { url } => url.clone(),
        };
        let mut conn = AnyConnection::connect(&url).await.expect("connect");
        let n = sqlx::query_scalar("SELECT refcount FROM blobs WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&mut conn)
            .await
            .expect("refcount");
        conn.close().await.ok();
        n
    }

    /// One number the database answers to `sql` (a test's look at tables no trait shows).
    pub async fn count(&self, sql: &'static str) -> i64 {
        let url = match &self.options.backend {
            Backend::Sqlite { path } => format!("sqlite://{}", path.display()),
            Backend::Postgres { url } => url.clone(),
        };
        let mut conn = AnyConnection::connect(&url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("count");
        conn.close().await.ok();
        n
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.options.backend, Backend::Sqlite { .. })
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.postgres
            && let Ok(mut conn) = PgConnection::connect(&admin).await
        {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The admin URL with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
