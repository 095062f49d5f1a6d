//! Group commit for webhook ingestion.
//!
//! Every accepted delivery must be durable before we answer 200, and a durable commit costs an
//! fsync. Committing each request on its own caps ingestion at the disk's fsync rate and makes
//! concurrent requests queue for the write lock. Instead, request tasks seal their payload and
//! hand it to a writer task; the writer takes everything waiting (up to a batch limit), writes
//! it in one commit, and answers each request with its own outcome. Under light load a batch
//! is one event and nothing waits; under heavy load batches grow while the previous commit is
//! in flight, so throughput scales without adding latency.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::clock::{Clock, SystemClock};
use crate::store::{Backend, Enqueued, SealedEvent, Store};

/// Most deliveries written in one commit.
pub const MAX_BATCH: usize = 256;

/// Why a delivery could not be queued. The sender should retry (we answer 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The database write failed.
    #[error("could not queue the event: {0}")]
    Store(String),
    /// The writer tasks are gone (shutting down).
    #[error("ingestion is shutting down")]
    Stopped,
}

struct Job {
    event: SealedEvent,
    reply: oneshot::Sender<Result<Enqueued, IngestError>>,
}

/// Handle to the writer tasks. Dropping every handle stops them once the channel is drained.
#[derive(Debug, Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Job>,
}

impl Ingestor {
    /// Starts writers suited to the backend: one for SQLite (a single writer anyway), eight for
    /// PostgreSQL (commits overlap on separate connections). Must run inside a Tokio runtime.
    pub fn start(store: Store) -> Self {
        Self::start_timed(store, Arc::new(SystemClock))
    }

    /// [`Ingestor::start`], stamping deliveries with `clock` (the worker's, so a test's manual
    /// clock sees what it queued as due).
    pub fn start_timed(store: Store, clock: Arc<dyn Clock>) -> Self {
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 8,
        };
        Self::start_with(store, clock, writers, MAX_BATCH)
    }

    /// Starts `writers` writer tasks committing at most `max_batch` deliveries each time.
    pub fn start_with(
        store: Store,
        clock: Arc<dyn Clock>,
        writers: usize,
        max_batch: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(max_batch * 8);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(writer(
                store.clone(),
                clock.clone(),
                rx.clone(),
                max_batch.max(1),
            ));
        }
        Self { tx }
    }

    /// Queues one sealed delivery; resolves once it is committed (or found to be a duplicate).
    pub async fn submit(&self, event: SealedEvent) -> Result<Enqueued, IngestError> {
        let (reply, outcome) = oneshot::channel();
        self.tx
            .send(Job { event, reply })
            .await
            .map_err(|_| IngestError::Stopped)?;
        outcome.await.map_err(|_| IngestError::Stopped)?
    }
}

async fn writer(
    store: Store,
    clock: Arc<dyn Clock>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        // Hold the receiver only while collecting, so another writer can collect the next
        // batch while this one commits.
        let received = rx.lock().await.recv_many(&mut jobs, max_batch).await;
        if received == 0 {
            return;
        }
        let (events, replies): (Vec<SealedEvent>, Vec<_>) =
            jobs.drain(..).map(|j| (j.event, j.reply)).unzip();
        match store.enqueue_batch(&events, clock.now_ms()).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = events.len(), "could not queue events");
                let error = IngestError::Store(e.to_string());
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}
