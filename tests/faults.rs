//! The live path under faults: SSE dropped mid-replay and resumed (one website and two), a
//! website's first event after idle, shutdown with events still queued, a failing or crashing
//! writer, and a WebSocket peer that vanished. Each of these broke a guarantee before.

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use pulse::model::LiveMessage;
use pulse::server::store::{
    AccountStore, Appended, EncodedEvent, EventPage, EventStore, PageCursor, Seq, SqliteStore, StoreError, StoredEvent,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Reads `n` SSE `event` messages (failing on a snapshot or gap: a resume must replay).
async fn events(s: &mut Sse, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e = s.next_of(&["event", "snapshot", "gap"]).await;
        assert_eq!(e.event, "event", "a resume inside the ring replays: {e:?}");
        out.push((event_path(&e.data), e.id.expect("every event has an id")));
    }
    out
}

#[tokio::test]
async fn sse_dropped_after_any_replayed_event_resumes_after_exactly_that_event() {
    let ctx = setup().await;
    let q = format!("website_id={}", ctx.site);
    let mut s = Sse::new(ctx.sse(&q, None).await);
    let from = s.next_of(&["snapshot"]).await.id.expect("snapshot id");
    drop(s);
    let mut expected: Vec<String> = Vec::new();
    for i in 0..30 {
        expected.push(format!("/r{i}"));
        ctx.track(&expected[i], "v").await;
    }
    for cut in [1, 15, 29] {
        // the browser reads `cut` replayed events, then loses the link
        let mut s = Sse::new(ctx.sse(&q, Some(&from)).await);
        let seen = events(&mut s, cut).await;
        assert_eq!(seen.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), expected[..cut]);
        let last_id = seen.last().map(|(_, id)| id.clone()).unwrap();
        drop(s);

        // resuming from the id it last saw delivers every later event once, in order
        let mut s = Sse::new(ctx.sse(&q, Some(&last_id)).await);
        let rest = events(&mut s, expected.len() - cut).await;
        assert_eq!(rest.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), expected[cut..], "cut after {cut}");
        // and nothing twice: the next event is a new one
        let marker = format!("/marker{cut}");
        ctx.track(&marker, "v").await;
        assert_eq!(events(&mut s, 1).await[0].0, marker);
        expected.push(marker);
    }
}

#[tokio::test]
async fn sse_over_two_websites_covers_a_website_only_once_its_snapshot_was_written() {
    let ctx = setup().await;
    let other = ctx.add_website().await;
    let q = format!("website_id={}&website_id={}", ctx.site, other);

    // the link drops right after the first website's snapshot: the second must still come
    let mut s = Sse::new(ctx.sse(&q, None).await);
    let first = s.next_of(&["snapshot"]).await;
    drop(s);
    let mut s = Sse::new(ctx.sse(&q, first.id.as_deref()).await);
    let next = s.next_of(&["snapshot", "gap", "event"]).await;
    assert_eq!(next.event, "snapshot", "{next:?}");
    let snap: LiveMessage = serde_json::from_str(&next.data).unwrap();
    assert_eq!(snap.website_id(), Some(other.as_str()), "the website whose snapshot was never written");
    let both = next.id.expect("id covering both websites");
    drop(s);

    // events on both while away; the link drops after the second replayed event
    let mut expected = Vec::new();
    for i in 0..5 {
        ctx.track(&format!("/a{i}"), "v").await;
        ctx.track_on(&other, &format!("/b{i}"), "o").await;
        expected.push(format!("/a{i}"));
        expected.push(format!("/b{i}"));
    }
    let mut s = Sse::new(ctx.sse(&q, Some(&both)).await);
    let seen = events(&mut s, 2).await;
    drop(s);
    let mut s = Sse::new(ctx.sse(&q, Some(&seen[1].1)).await);
    let rest = events(&mut s, 8).await;
    let mut all: Vec<String> = seen.into_iter().chain(rest).map(|(p, _)| p).collect();
    // each website's events in order, and every event exactly once
    let order = |prefix: &str, v: &[String]| v.iter().filter(|p| p.starts_with(prefix)).cloned().collect::<Vec<_>>();
    assert_eq!(order("/a", &all), order("/a", &expected));
    assert_eq!(order("/b", &all), order("/b", &expected));
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn a_websites_first_event_after_idle_meets_the_same_state_as_a_restart_builds() {
    let ctx = setup().await;
    // history older than the live window, written before anyone watched
    let store = SqliteStore::open(ctx.dir.path()).unwrap();
    let old = chrono::Utc::now() - chrono::Duration::minutes(45);
    let history: Vec<EncodedEvent> = (0..3)
        .map(|i| EncodedEvent::new(event(&ctx.site, &format!("/old{i}"), "h", old)).unwrap())
        .collect();
    store.append(&history).await.unwrap();

    ctx.track("/new", "v").await; // creates the website's live topic through publish
    let (ws, first) = ctx.watch().await;
    drop(ws);
    let LiveMessage::Snapshot { recent, stats, .. } = first else { panic!("{first:?}") };
    let paths: Vec<_> = recent.iter().map(|e| e.pathname.as_str()).collect();
    assert_eq!(paths, ["/new", "/old2", "/old1", "/old0"], "the feed holds the history, not just the new event");

    let ctx = ctx.restart().await;
    let (_ws, rebuilt) = ctx.watch().await;
    let LiveMessage::Snapshot { recent: r2, stats: s2, .. } = rebuilt else { panic!("{rebuilt:?}") };
    assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), r2.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!((stats.current_visitors, stats.pageviews_last_30m), (s2.current_visitors, s2.pageviews_last_30m));
}

#[tokio::test]
async fn shutdown_with_events_queued_acknowledges_only_what_it_stored() {
    let ctx = setup_with(|c| {
        c.ingest.batch_max = 4;
        c.ingest.batch_linger_ms = 20;
    })
    .await;
    let sends: Vec<_> = (0..120)
        .map(|i| {
            let (http, base, site) = (ctx.http.clone(), ctx.base.clone(), ctx.site.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/api/track"))
                    .header("user-agent", CHROME)
                    .json(&json!({"website_id": site, "url": format!("https://example.com/q{i}"), "visitor_id": format!("q{i}")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => Some(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()),
                    _ => None, // refused (503) or the connection closed: not acknowledged
                }
            })
        })
        .collect();
    // stop while requests are still queued behind small, lingering batches
    let deadline = tokio::time::Instant::now() + WAIT;
    let queue = &ctx.server.state.ingest;
    while queue.max_capacity() - queue.capacity() < 8 {
        assert!(tokio::time::Instant::now() < deadline, "requests did not queue up");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let Ctx { server, dir, site, .. } = ctx;
    server.stop().await.unwrap();
    let mut acknowledged = Vec::new();
    for s in sends {
        if let Some(id) = s.await.unwrap() {
            acknowledged.push(id);
        }
    }
    let stored = SqliteStore::open(dir.path()).unwrap().newest(&site, 1_000, None).await.unwrap();
    let stored: std::collections::HashSet<String> = stored.events.iter().map(|e| e.event.id.to_string()).collect();
    assert!(!acknowledged.is_empty());
    for id in &acknowledged {
        assert!(stored.contains(id), "event {id} was acknowledged but not stored");
    }
}

/// An `EventStore` whose appends can be made to fail or to panic.
struct Faulty {
    inner: SqliteStore,
    /// 0 works, 1 append returns an error, 2 append panics, 3 history reads panic.
    mode: Arc<AtomicU8>,
}

#[async_trait::async_trait]
impl EventStore for Faulty {
    async fn append(&self, events: &[EncodedEvent]) -> Result<Vec<Appended>, StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            1 => Err(StoreError::Task("disk I/O error (injected)".into())),
            2 => panic!("injected writer crash"),
            _ => self.inner.append(events).await,
        }
    }
    async fn newest(&self, w: &str, limit: usize, before: Option<PageCursor>) -> Result<EventPage, StoreError> {
        self.inner.newest(w, limit, before).await
    }
    async fn range(
        &self,
        w: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError> {
        self.inner.range(w, from, to, limit, before).await
    }
    async fn since(&self, w: Option<&str>, since: chrono::DateTime<chrono::Utc>) -> Result<Vec<StoredEvent>, StoreError> {
        if self.mode.load(Ordering::SeqCst) == 3 {
            panic!("injected read crash");
        }
        self.inner.since(w, since).await
    }
    async fn stats(&self, q: &pulse::server::analytics::StatsQuery) -> Result<pulse::model::StatsReport, StoreError> {
        self.inner.stats(q).await
    }
    async fn last_seq_before(&self, w: &str, before: chrono::DateTime<chrono::Utc>) -> Result<Seq, StoreError> {
        self.inner.last_seq_before(w, before).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

async fn faulty_server() -> (Ctx, Arc<AtomicU8>) {
    let dir = tempfile::tempdir().unwrap();
    let site = seed(dir.path()).await;
    let store = SqliteStore::open(dir.path()).unwrap();
    let mode = Arc::new(AtomicU8::new(0));
    let events: Arc<dyn EventStore> = Arc::new(Faulty { inner: store.clone(), mode: mode.clone() });
    let accounts: Arc<dyn AccountStore> = Arc::new(store);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leptos = leptos::config::LeptosOptions::builder().output_name("pulse").build();
    let server = pulse::server::Server::start_with_stores(config(dir.path()), leptos, listener, events, accounts)
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let token = login(&http, &base).await;
    (Ctx { server, base, token, site, dir, http }, mode)
}

async fn health(ctx: &Ctx) -> (u16, Value) {
    let r = ctx.http.get(format!("{}/health", ctx.base)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_failing_store_turns_health_red_and_ingest_refuses_until_it_recovers() {
    let (ctx, mode) = faulty_server().await;
    ctx.track("/ok", "v").await;
    assert_eq!(health(&ctx).await.0, 200);

    mode.store(1, Ordering::SeqCst);
    let (status, body) =
        ctx.track_raw(json!({"website_id": ctx.site, "url": "https://example.com/lost", "visitor_id": "v"})).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")), "{body}");
    let (status, body) = health(&ctx).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "write_path_unavailable");
    assert!(body["message"].as_str().unwrap().contains("disk I/O error"), "{body}");

    mode.store(0, Ordering::SeqCst);
    ctx.track("/again", "v").await;
    assert_eq!(health(&ctx).await.0, 200, "healthy again once a batch is stored");
}

#[tokio::test]
async fn a_crashed_writer_stops_the_server_as_failed_instead_of_refusing_forever() {
    let (ctx, mode) = faulty_server().await;
    ctx.track("/ok", "v").await;
    mode.store(2, Ordering::SeqCst);
    let (status, body) =
        ctx.track_raw(json!({"website_id": ctx.site, "url": "https://example.com/crash", "visitor_id": "v"})).await;
    assert_eq!(status, 503, "never acknowledged: {body}");
    let Ctx { server, .. } = ctx;
    let outcome = tokio::time::timeout(WAIT, server.wait()).await.expect("the server stops by itself");
    let err = outcome.expect_err("stopped as failed, so `pulse serve` exits non-zero");
    assert!(err.to_string().contains("writer"), "{err}");
}

#[tokio::test]
async fn a_crashed_publisher_answers_its_stored_batch_and_stops_the_server_as_failed() {
    let (ctx, mode) = faulty_server().await;
    mode.store(3, Ordering::SeqCst); // the publisher crashes building the website's live topic
    let (status, body) =
        ctx.track_raw(json!({"website_id": ctx.site, "url": "https://example.com/stored", "visitor_id": "v"})).await;
    assert_eq!(status, 202, "the event was stored, so it is acknowledged: {body}");
    let id = body["id"].as_str().unwrap().to_string();
    let Ctx { server, dir, site, .. } = ctx;
    let outcome = tokio::time::timeout(WAIT, server.wait()).await.expect("the server stops by itself");
    let err = outcome.expect_err("stopped as failed");
    assert!(err.to_string().contains("publisher"), "{err}");
    let stored = SqliteStore::open(dir.path()).unwrap().newest(&site, 10, None).await.unwrap();
    assert!(stored.events.iter().any(|e| e.event.id.to_string() == id));
}

#[tokio::test]
async fn a_vanished_websocket_peer_frees_its_connection_slot() {
    let ctx = setup_with(|c| {
        c.live.max_connections_per_user = 1;
        c.live.heartbeat_secs = 1;
    })
    .await;
    // this client subscribes, then never reads again: it answers no ping, like a closed laptop
    let (silent, first) = ctx.watch().await;
    assert!(matches!(first, LiveMessage::Snapshot { .. }), "{first:?}");
    let (_, refused) = ctx.watch().await;
    assert!(
        matches!(refused, LiveMessage::Error { code: pulse::model::ErrorCode::TooManyConnections, .. }),
        "the slot is taken while the peer may be alive: {refused:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_ws, first) = ctx.watch().await;
        if matches!(first, LiveMessage::Snapshot { .. }) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the silent peer still holds the slot: {first:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // the server closed the silent one: it finds a close frame once it reads again
    let mut silent = silent.0;
    let closed = loop {
        match tokio::time::timeout(WAIT, silent.next()).await.expect("close within 5 s") {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break true,
            Some(Ok(_)) => continue,
        }
    };
    assert!(closed);
}
