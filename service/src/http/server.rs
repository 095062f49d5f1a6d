//! The one place that talks to TCP: our own accept loop around hyper's HTTP/1 connection, so
//! slow and hostile clients are bounded (issue 12 §3).
//!
//! | attack | answer |
//! |---|---|
//! | half-sent headers, idle keep-alive | closed after `HTTP_READ_TIMEOUT_SECS` (hyper's header timer) |
//! | a body that never ends | 408 and closed after `HTTP_READ_TIMEOUT_SECS` (`read_body`'s timer) |
//! | thousands of connections | at most `HTTP_MAX_CONNECTIONS` served; the rest wait unaccepted in the kernel's backlog |
//! | many large unfinished bodies | a body declared above [`FREE_BODY_BYTES`] first reserves its size from one shared [`BodyBudget`], and waits (without reading its socket) while the budget is spent; smaller ones are free |
//! | huge headers | 431 past [`MAX_HEADER_BUF`] |
//!
//! So the memory held for clients is at most about `HTTP_MAX_CONNECTIONS × (FREE_BODY_BYTES +
//! MAX_HEADER_BUF) + BODY_BUDGET_BYTES`, whatever they send, and small requests (every usual
//! webhook, `/healthz`) never wait for the budget. The price, during such an attack only: a
//! body above 64 KiB may wait for the budget, and get 408 after the read timeout. Only HTTP/1.1 is served: webhooks use it,
//! and one protocol is one set of limits to get right.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::Filter;
use warp::reply::Response;

use crate::config::HttpSettings;

/// Bytes of a request body read without drawing on the [`BodyBudget`]: every usual webhook
/// (a GitHub pull-request event is ~30 KB) fits, so a flood of large unfinished bodies never
/// delays them.
pub const FREE_BODY_BYTES: usize = 64 * 1024;

/// The shared allowance for body bytes beyond [`FREE_BODY_BYTES`] (16 MiB: sixteen 1 MiB
/// bodies at once).
pub const BODY_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// hyper's per-connection read buffer, hence the largest request head (431 beyond).
pub const MAX_HEADER_BUF: usize = 16 * 1024;

/// The budget's unit: permits are KiB.
const UNIT: usize = 1024;

/// Memory for large request bodies, shared by all connections. A request that needs more
/// than is left waits (and does not read its socket) until others finish or time out.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(BODY_BUDGET_BYTES)
    }
}

impl BodyBudget {
    /// A budget of `bytes` (rounded down to whole KiB).
    pub fn new(bytes: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(bytes / UNIT)),
        }
    }

    /// Bytes not reserved right now (for tests and diagnostics).
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }

    /// An empty reservation that [`Reservation::grow_to`] enlarges.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            permits: self.permits.clone(),
            held: None,
            units: 0,
        }
    }
}

/// Budget held by one request; given back when dropped (when the request is done).
#[derive(Debug)]
pub struct Reservation {
    permits: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    units: u32,
}

impl Reservation {
    /// Waits until this reservation covers `bytes`. Fair (first come, first served); the
    /// caller bounds the wait with its read timeout.
    pub async fn grow_to(&mut self, bytes: usize) {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        if units <= self.units {
            return;
        }
        let more = self
            .permits
            .clone()
            .acquire_many_owned(units - self.units)
            .await
            .expect("the budget's semaphore is never closed");
        match &mut self.held {
            Some(held) => held.merge(more),
            None => self.held = Some(more),
        }
        self.units = units;
    }
}

/// Serves `filter` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// open connections to finish (bounded by the read timeout).
pub async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: HttpSettings,
    shutdown: impl Future<Output = ()> + Send,
) where
    F: Filter<Extract = (Response,), Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    F::Future: Send,
{
    let service = warp::service(filter);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: connections beyond the cap stay in the kernel's backlog, costing us
        // nothing, until one frees.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.read_timeout)
            .max_buf_size(MAX_HEADER_BUF)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Per-connection errors (the peer left before we accepted) are ignored; anything else (out
/// of file descriptors) is logged and the loop pauses so it does not spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_take_whole_kib_and_give_them_back() {
        let budget = BodyBudget::new(8 * UNIT);
        let mut a = budget.reservation();
        a.grow_to(1).await;
        assert_eq!(budget.available(), 7 * UNIT);
        a.grow_to(3 * UNIT).await;
        a.grow_to(2 * UNIT).await;
        assert_eq!(budget.available(), 5 * UNIT);
        let mut b = budget.reservation();
        let waiting = tokio::time::timeout(Duration::from_millis(50), b.grow_to(6 * UNIT)).await;
        assert!(waiting.is_err(), "more than is left waits");
        drop(a);
        assert_eq!(budget.available(), 8 * UNIT);
        b.grow_to(6 * UNIT).await;
        assert_eq!(budget.available(), 2 * UNIT);
    }
}
