//! Storage on SQLite (one process) or PostgreSQL (N replicas), through sqlx.
//!
//! One [`Store`] type serves both backends. Most SQL is written once and runs on both (sqlx's
//! SQLite driver accepts `$1` placeholders); the few statements that must differ (claiming queue
//! rows with `FOR UPDATE SKIP LOCKED`) say so where they are. Schemas live in the top-level
//! `migrations/sqlite` and `migrations/postgres` folders.
//!
//! Rule for every table: identifiers only. Tokens and queued payloads are sealed by the
//! [`crate::vault::Vault`] before they reach a method here that writes them.

mod admin;
mod digests;
mod install;
mod mentions;
mod mirror;
mod providers;
mod queue;
mod reminders;
mod rotate;
mod summary;
mod threads;
mod timers;
mod waits;
mod webhook_secrets;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use admin::{CredentialInfo, CredentialKind, RepoLink, UserMapping};
pub use digests::{DIGEST_TIMER, DigestSubscription, digest_timer_key};
pub use mirror::Mirror;
pub use providers::{ProviderOverview, ProviderState, ReconciliationRun};
pub use queue::{ClaimedRow, Enqueued, FailureRecord, GiveUpCause, NewEvent, SealedEvent};
pub use reminders::{ReminderProgress, ReminderSettings};
pub use rotate::RotationReport;
pub use summary::{AiSummaryRepo, LLM_OWNER, STALE_CLAIM};
pub use threads::{CommentMessage, LedgerEntry, Origin, PrRef, PrThread, SlackRef};
pub use timers::FiredTimer;
pub use waits::ReviewWait;
pub use webhook_secrets::{HookScope, StoredHookSecret, WebhookSecretInfo, closest_first};

use crate::vault::VaultError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file: one process.
    Sqlite,
    /// PostgreSQL: any number of replicas sharing one database.
    Postgres,
}

/// The connection pool behind a [`Store`]. Public as an escape hatch for tests and one-off
/// queries (for example, reading raw ciphertext to prove no plaintext is stored).
#[derive(Debug, Clone)]
pub enum Pool {
    /// SQLite pool.
    Sqlite(SqlitePool),
    /// PostgreSQL pool.
    Postgres(PgPool),
}

/// Errors from the store. They carry identifiers at most, never payloads or tokens.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or rejected a statement.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A sealed value could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The URL names a database we do not support.
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://FILE or postgres://...")]
    UnsupportedUrl(String),
    /// A stored value is not one this version understands (written by a newer version?).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
}

/// Handle to the database; cheap to clone (pools are reference-counted).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// Runs the same block against whichever pool a store holds. The block is compiled once per
/// backend, so it may only use SQL and types both backends accept.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// How hard a SQLite commit hits the disk (WAL mode), chosen per operation.
///
/// Only the commit behind an acknowledgement must survive a power loss: the batch of accepted
/// webhook deliveries (`Full`: fsync at commit). The worker's own bookkeeping (claiming and
/// deleting queue rows) runs at `Normal`: still atomic and safe against a process crash, and
/// at worst replayed after a power loss — which at-least-once delivery already allows — but
/// it no longer holds the single connection for an fsync per step. Each operation sets its
/// level explicitly before it writes, so a cancelled operation cannot leave a weaker level
/// behind for an ingestion commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqliteSync {
    /// `PRAGMA synchronous = FULL`.
    Full,
    /// `PRAGMA synchronous = NORMAL`.
    Normal,
}

impl SqliteSync {
    pub(crate) async fn apply(self, conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        let sql = match self {
            SqliteSync::Full => "PRAGMA synchronous = FULL",
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
        };
        sqlx::query(sql).execute(conn).await.map(|_| ())
    }
}

/// Creates a missing SQLite database file with mode 0600, and takes group and other access
/// away from an existing one and its `-wal` / `-shm` files (with a warning): the file holds
/// sealed tokens and the link map, readable by the service's user only. SQLite gives the
/// `-wal` and `-shm` files it creates the database file's mode.
fn restrict_sqlite_files(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
            return Ok(());
        }
        let io = |e: std::io::Error| StoreError::Db(sqlx::Error::Io(e));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{name}{suffix}"));
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{:o}", mode & 0o777), "SQLite file readable by others: setting mode 600");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Milliseconds since the Unix epoch: the time unit of every timestamp column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Converts a duration to the milliseconds the timestamp columns use, saturating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Connects with the default pool: 16 PostgreSQL connections (8 ingest writers, the worker,
    /// reads), one SQLite connection.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, 16).await
    }

    /// Connects with at most `max_connections` connections on PostgreSQL. SQLite always gets
    /// exactly one: it allows one writer at a time anyway, and one connection queues writers
    /// in order inside the process instead of letting them collide and sleep in SQLite's busy
    /// handler (milliseconds each time). The SQLite file is created when missing and opened in
    /// WAL mode with full fsync; ingestion commits always fsync, so an acknowledged event
    /// survives a crash or power loss (see `SqliteSync` for the worker's bookkeeping).
    /// Temporary tables (`RETURNING` results, statement journals) stay in memory: as files
    /// they cost an open, write and unlink on every ingestion batch (~20 % of its time).
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            restrict_sqlite_files(options.get_filename())?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                .foreign_keys(true);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .connect(url)
                    .await?,
            )
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(StoreError::UnsupportedUrl(format!("{scheme}:...")));
        };
        Ok(Self { pool })
    }

    /// Applies pending migrations. Safe to run from several replicas at once on PostgreSQL
    /// (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The underlying pool, for tests and one-off queries.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Closes every connection; waits for checked-out connections to come back.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// A trivial query, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
