//! The single writer: drains the bounded ingest queue in group commits (up to `batch_max`
//! events, lingering `batch_linger_ms` for more) and stores each batch in one transaction.
//! Events arrive already serialized (by their requests, in parallel), so the writer only writes.
//! Right after a commit the writer answers the batch's requests (`202` means stored, nothing
//! more) and hands what was stored to a second task, which publishes batches to the hub in
//! commit order, so neither the answers nor the next commit wait for the fan-out.
//! The writer runs on a thread of its own (the store may block it); the publisher on the
//! server's runtime. A full queue is refused at the door (`503 queue_full`); nothing is
//! buffered beyond it. If the writer or publisher stops on its own, the server stops as failed
//! (exit non-zero) rather than answering `503` forever behind a green `/health`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::server::config::IngestConfig;
use crate::server::health::WritePath;
use crate::server::hub::Hub;
use crate::server::metrics::Metrics;
use crate::server::shutdown::Shutdown;
use crate::server::store::{Appended, EncodedEvent, EventStore, Seq};

/// Outcome sent back to the waiting request: stored (or already stored), or the store failed.
pub type WriteAck = Result<Appended, String>;

pub struct WriteRequest {
    pub event: EncodedEvent,
    pub received: Instant,
    pub ack: oneshot::Sender<WriteAck>,
}

/// A request of a batch, waiting for its acknowledgement.
struct Waiter {
    received: Instant,
    ack: oneshot::Sender<WriteAck>,
}

pub type IngestQueue = mpsc::Sender<WriteRequest>;

pub fn queue(cfg: &IngestConfig) -> (IngestQueue, mpsc::Receiver<WriteRequest>) {
    mpsc::channel(cfg.queue_capacity.max(1))
}

/// Committed batches waiting to be published; when full, the writer waits (bounded).
const PUBLISH_QUEUE: usize = 16;

struct Committed {
    events: Vec<EncodedEvent>,
    waiters: Vec<Waiter>,
    outcome: Result<Vec<Appended>, String>,
}

/// What a commit stored, in commit order, for the publisher: each event with its sequence
/// number, and its request's arrival (for the arrival → broadcast latency).
#[derive(Default)]
struct Stored {
    events: Vec<(Seq, EncodedEvent)>,
    received: Vec<Instant>,
}

/// Starts the writer (its own thread) and the publisher (a task). The returned task ends when
/// both have stopped. If either stops on its own — a panic, the publisher gone — the write path
/// is marked stopped for `/health` and the server is shut down as failed, so `pulse serve`
/// exits non-zero and its supervisor restarts it (see README, "Supervision").
pub fn spawn(
    cfg: IngestConfig,
    store: Arc<dyn EventStore>,
    hub: Hub,
    metrics: Metrics,
    health: Arc<WritePath>,
    rx: mpsc::Receiver<WriteRequest>,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    let (committed_tx, committed_rx) = mpsc::channel::<Stored>(PUBLISH_QUEUE);
    let publisher = tokio::spawn(publish_loop(hub, metrics.clone(), committed_rx));
    let (stopped_tx, stopped_rx) = oneshot::channel::<Option<String>>();
    let writer = write_loop(WriteLoop { cfg, store, metrics, health, rx, shutdown: shutdown.subscribe(), committed_tx, publisher });
    // Its own thread and runtime: the next commit starts as soon as the last one is done,
    // without waiting for a turn on workers busy with requests.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    std::thread::Builder::new().name("pulse-writer".into()).spawn(move || {
        let failure = rt.block_on(writer);
        let _ = stopped_tx.send(failure);
    })?;
    Ok(tokio::spawn(async move {
        let failure = match stopped_rx.await {
            Ok(failure) => failure,
            // the thread ended without reporting: it panicked
            Err(_) => Some("the writer thread panicked".to_string()),
        };
        if let Some(reason) = failure {
            shutdown.fail(reason);
        }
    }))
}

/// What a write loop runs with: the queue it drains, the store it commits to, and where the
/// stored events go (the publisher).
struct WriteLoop {
    cfg: IngestConfig,
    store: Arc<dyn EventStore>,
    metrics: Metrics,
    health: Arc<WritePath>,
    rx: mpsc::Receiver<WriteRequest>,
    shutdown: watch::Receiver<bool>,
    committed_tx: mpsc::Sender<Stored>,
    publisher: JoinHandle<Option<String>>,
}

/// Drains the queue into group commits until shutdown (then flushes what is queued). Returns
/// why it stopped early, if it did.
async fn write_loop(w: WriteLoop) -> Option<String> {
    let depth = w.store.appends_in_flight().max(1);
    if depth > 1 {
        return write_loop_pipelined(depth, w).await;
    }
    let WriteLoop { cfg, store, metrics, health, mut rx, mut shutdown, committed_tx, mut publisher } = w;
    let max = cfg.batch_max.max(1);
    let linger = Duration::from_millis(cfg.batch_linger_ms);
    let mut buf: Vec<WriteRequest> = Vec::with_capacity(max);
    let mut closing = false;
    let mut failure = None;
    let mut publisher_done = false;
    loop {
        let n = if closing {
            rx.recv_many(&mut buf, max).await
        } else {
            tokio::select! {
                // the publisher ended while the writer runs: it failed (noticed now, not at
                // the next event)
                ended = &mut publisher => {
                    publisher_done = true;
                    failure = Some(publisher_failure(ended));
                    break;
                }
                n = rx.recv_many(&mut buf, max) => n,
                _ = shutdown.wait_for(|s| *s) => {
                    // stop taking new events; what is queued is still written below
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        if n == 0 {
            break;
        }
        if buf.len() < max && !linger.is_zero() && !closing {
            tokio::time::sleep(linger).await;
            while buf.len() < max {
                match rx.try_recv() {
                    Ok(r) => buf.push(r),
                    Err(_) => break,
                }
            }
        }
        // draining keeps `buf`'s capacity for the next batch
        let committed = commit(&store, &metrics, &health, buf.drain(..)).await;
        // answered now, from this thread: one hand-off less per request than answering after
        // the publish
        let stored = acknowledge(&metrics, committed);
        if !stored.events.is_empty() && committed_tx.send(stored).await.is_err() {
            // stored and answered; not broadcast: the publisher is gone
            failure = Some("the publisher stopped".to_string());
            break;
        }
    }
    finish(rx, committed_tx, (!publisher_done).then_some(publisher), failure).await
}

/// The end of a write loop: refuses whatever is still queued (those requests answer `503`:
/// nothing is acknowledged that was not stored), lets the publisher drain (unless it ended
/// already) and says why the writer stopped, if it failed.
async fn finish(
    mut rx: mpsc::Receiver<WriteRequest>,
    committed_tx: mpsc::Sender<Stored>,
    publisher: Option<JoinHandle<Option<String>>>,
    mut failure: Option<String>,
) -> Option<String> {
    rx.close();
    drop(committed_tx);
    if let Some(publisher) = publisher {
        let ended = publisher.await;
        if failure.is_none() && !matches!(ended, Ok(None)) {
            failure = Some(publisher_failure(ended));
        }
    }
    match &failure {
        None => tracing::info!("writer flushed and stopped"),
        Some(reason) => tracing::error!(%reason, "writer stopped"),
    }
    failure
}

/// `write_loop` for a store that takes several batches at once (a networked store, where a
/// commit is a few round trips): up to `depth` commits in flight, started in queue order,
/// answered and published in that same order (the store numbers them in it). No linger: the
/// next batch starts with whatever arrived, so batches stay small under light load.
async fn write_loop_pipelined(depth: usize, w: WriteLoop) -> Option<String> {
    let WriteLoop { cfg, store, metrics, health, mut rx, mut shutdown, committed_tx, mut publisher } = w;
    use futures::stream::{FuturesOrdered, StreamExt};
    let max = cfg.batch_max.max(1);
    let mut buf: Vec<WriteRequest> = Vec::with_capacity(max);
    let mut inflight = FuturesOrdered::new();
    let (mut closing, mut drained) = (false, false);
    let mut failure = None;
    let mut publisher_done = false;
    loop {
        if drained && inflight.is_empty() {
            break;
        }
        tokio::select! {
            // finished commits first, in the order they started
            biased;
            Some(committed) = inflight.next(), if !inflight.is_empty() => {
                let stored = acknowledge(&metrics, committed);
                if !stored.events.is_empty() && committed_tx.send(stored).await.is_err() {
                    failure = Some("the publisher stopped".to_string());
                    break;
                }
            }
            ended = &mut publisher, if !closing => {
                publisher_done = true;
                failure = Some(publisher_failure(ended));
                break;
            }
            n = rx.recv_many(&mut buf, max), if !drained && inflight.len() < depth => {
                if n == 0 {
                    drained = true;
                    continue;
                }
                let batch = std::mem::replace(&mut buf, Vec::with_capacity(max));
                let mut started = Box::pin(commit(&store, &metrics, &health, batch.into_iter()));
                // polled once now: the store takes its place in line before the next batch
                // starts (see `EventStore::appends_in_flight`)
                if let std::task::Poll::Ready(committed) = futures::poll!(started.as_mut()) {
                    inflight.push_back(futures::future::Either::Left(std::future::ready(committed)));
                } else {
                    inflight.push_back(futures::future::Either::Right(started));
                }
            }
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() }, if !closing => {
                // stop taking new events; what is queued and in flight is still written
                rx.close();
                closing = true;
            }
        }
    }
    // whatever was started is finished and answered before the writer stops
    while let Some(committed) = inflight.next().await {
        let stored = acknowledge(&metrics, committed);
        if !stored.events.is_empty() {
            let _ = committed_tx.send(stored).await;
        }
    }
    finish(rx, committed_tx, (!publisher_done).then_some(publisher), failure).await
}

async fn commit(
    store: &Arc<dyn EventStore>,
    metrics: &Metrics,
    health: &WritePath,
    batch: impl ExactSizeIterator<Item = WriteRequest>,
) -> Committed {
    metrics.batch_size(batch.len());
    let (events, waiters): (Vec<EncodedEvent>, Vec<Waiter>) =
        batch.map(|r| (r.event, Waiter { received: r.received, ack: r.ack })).unzip();
    let outcome = store.append(&events).await.map_err(|e| {
        tracing::error!(error = %e, events = events.len(), "batch not stored");
        health.batch_failed(e.to_string());
        e.to_string()
    });
    if outcome.is_ok() {
        health.batch_stored();
    }
    Committed { events, waiters, outcome }
}

fn publisher_failure(ended: Result<Option<String>, tokio::task::JoinError>) -> String {
    match ended {
        Ok(Some(reason)) => reason,
        Ok(None) => "the publisher stopped".to_string(),
        Err(e) => format!("the publisher failed: {e}"),
    }
}

/// Answers every request of a committed batch and returns what was stored, for publishing.
fn acknowledge(metrics: &Metrics, Committed { events, waiters, outcome }: Committed) -> Stored {
    match outcome {
        Ok(outcomes) => {
            let mut stored = Stored { events: Vec::with_capacity(events.len()), received: Vec::with_capacity(events.len()) };
            for ((e, w), o) in events.into_iter().zip(waiters).zip(outcomes) {
                metrics.ingest(match o {
                    Appended::Stored(_) => "stored",
                    Appended::Duplicate => "duplicate",
                });
                // the request may have gone away; the event is stored either way
                let _ = w.ack.send(Ok(o));
                if let Appended::Stored(seq) = o {
                    stored.events.push((seq, e));
                    stored.received.push(w.received);
                }
            }
            stored
        }
        Err(e) => {
            for w in waiters {
                metrics.ingest("store_error");
                let _ = w.ack.send(Err(e.clone()));
            }
            Stored::default()
        }
    }
}

/// Publishes each committed batch in commit order. Returns why it stopped, if it failed: a
/// panic while publishing stops the publisher, so the writer reports the failure (the batch's
/// events are stored and were answered).
async fn publish_loop(hub: Hub, metrics: Metrics, mut rx: mpsc::Receiver<Stored>) -> Option<String> {
    while let Some(Stored { events: batch, received }) = rx.recv().await {
        let published = std::panic::AssertUnwindSafe(async {
            // a website's first event after idle: build its topic from the store first
            hub.prepare(&batch).await;
            hub.publish(batch);
        })
        .catch_unwind()
        .await;
        if published.is_err() {
            return Some("the publisher panicked while publishing a batch".to_string());
        }
        for at in received {
            metrics.publish_latency(at.elapsed().as_secs_f64());
        }
    }
    None
}
