//! Persistence: one sqlx `Any` pool over SQLite (a file in WAL mode, the
//! embedded default) or PostgreSQL (several nodes on one database).
//!
//! Queries are written once, with `$n` parameters, in portable SQL; only
//! the schema (`migrations/<backend>/`) and the few statements that must
//! differ (job claiming) are per backend. Times are Unix milliseconds and
//! ids are text, so rows mean the same on both.
//!
//! One file per table group: [`connectors`], [`connections`] (and their
//! secrets), [`syncs`] (and cursors), [`runs`] (rows, logs, rejections),
//! [`cassettes`] (failed runs' calls), [`queue`] (runs as jobs), [`pages`]
//! (the page commit), [`records`] (the
//! records store), [`hooks`] (incoming webhooks), [`outbox`] (outgoing
//! webhooks), [`oauth`] (states and tokens), [`api_keys`], [`audit`], and
//! [`sealed`] (every column that holds a Fernet token), [`state`] (what
//! contract 0.2 connectors keep per connection: state, login sessions).
//!
//! Rows with only plain columns derive `sqlx::FromRow`; rows with JSON in
//! text columns or booleans kept as integers (so one schema reads the same
//! through `Any` on both backends) are mapped by one `from_row` per table.
//!
//! Write transactions go through [`Store::begin_write`]: on SQLite they take
//! turns and start `IMMEDIATE`, so none fails with "database is locked".

pub mod api_keys;
pub mod audit;
pub mod cassettes;
pub mod connections;
pub mod connectors;
pub mod console_sessions;
pub mod hooks;
pub mod inputs;
pub mod oauth;
pub mod outbox;
pub mod overview;
pub mod pages;
pub mod queue;
pub mod rate;
pub mod records;
pub mod runs;
pub mod sealed;
pub mod sso_logins;
pub mod state;
pub mod syncs;

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Unsupported URL.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://…")]
    Url(String),
    /// Stored data that does not parse (a bug or manual edits).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    /// Whose turn it is to write (SQLite only).
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction; it rolls back unless committed.
///
/// SQLite allows one writer. A deferred transaction that reads and then
/// writes fails at once with "database is locked" when another connection
/// wrote in between (SQLite cannot wait there without risking deadlock), so
/// on SQLite write transactions take turns in this process and begin
/// `IMMEDIATE`, which waits for the write lock (`busy_timeout`) before
/// reading anything. PostgreSQL needs neither.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commit, and give the turn to the next writer.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Open `url` (`sqlite://path` or `postgres://…`) and run migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url, None).await?;
        match store.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&store.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&store.pool).await?,
        }
        Ok(store)
    }

    /// A second, small pool on the same database, with connections owned by
    /// the runtime this is called on (the lease keeper's). An in-memory
    /// SQLite database cannot be opened twice: its pool is shared instead.
    pub async fn reopen(&self) -> Result<Self> {
        if self.backend == Backend::Sqlite && self.url.contains("memory") {
            return Ok(self.clone());
        }
        Self::connect(&self.url, Some(2)).await
    }

    async fn connect(url: &str, max_connections: Option<u32>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(max_connections.unwrap_or(8))
                    // A SQLite connection is a file handle on a thread of
                    // this process: it does not go stale the way a network
                    // connection does, and the ping before each use is a
                    // round trip to that thread (a few hundred µs of a page
                    // commit here).
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never wait for the writer;
                            // busy_timeout: writers queue instead of failing.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(max_connections.unwrap_or(16))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Self {
            pool,
            backend,
            url: url.into(),
            write_turn: Default::default(),
        })
    }

    /// The SQLite database in `dir` (created if missing).
    pub async fn open_sqlite_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Url(format!("{}: {e}", dir.display())))?;
        let url = format!("sqlite://{}?mode=rwc", dir.join("wharf.db").display());
        Self::open(&url).await
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begin a write transaction (see [`WriteTx`]).
    pub async fn begin_write(&self) -> Result<WriteTx> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _turn: Some(turn),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            }),
        }
    }

    /// [`Store::begin_write`] for a run's page (its records, cursor,
    /// counters and logs), whose commit may reach the disk just after it
    /// returns. On SQLite every commit is like that already (WAL with
    /// `synchronous = NORMAL`, which loses commits only when the machine
    /// goes down); on PostgreSQL the transaction sets
    /// `synchronous_commit = off` for itself, so a page does not wait for
    /// its WAL flush (an fsync: a one-row commit took 3.8 ms here with it,
    /// 0.3 ms without). Any crash of the database server (not of Wharf)
    /// may then lose the last pages it acknowledged, within three
    /// `wal_writer_delay`s: records and cursor go together, so the sync
    /// resumes from an earlier cursor and fetches them again, never past a
    /// gap. A later synchronous commit (a run's end, anything of the
    /// control plane) flushes every page before it.
    pub async fn begin_page_write(&self) -> Result<WriteTx> {
        match self.backend {
            Backend::Sqlite => self.begin_write().await,
            Backend::Postgres => Ok(WriteTx {
                tx: self
                    .pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?,
                _turn: None,
            }),
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

pub use crate::clock::now_ms;
pub use crate::ids::new_id;

fn corrupt(table: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: e.to_string(),
    }
}
