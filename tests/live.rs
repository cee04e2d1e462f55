//! The live protocol end to end: WebSocket and SSE delivery, resume by cursor, bad commands.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use pulse::model::{ErrorCode, LiveMessage};
use serde_json::{json, Value};

fn cursor_of(m: &LiveMessage) -> String {
    m.cursor().expect("message with a cursor").to_string()
}

#[tokio::test]
async fn ws_subscribe_snapshot_then_event_within_a_second() {
    let ctx = setup().await;
    ctx.track("/before", "v0").await;
    let (mut ws, snapshot) = ctx.watch().await;
    match snapshot {
        LiveMessage::Snapshot { website_id, stats, recent, .. } => {
            assert_eq!(website_id, ctx.site);
            assert_eq!(stats.current_visitors, 1);
            assert_eq!(recent[0].pathname, "/before");
            assert_eq!(stats.per_minute.len(), 30);
        }
        other => panic!("expected snapshot, got {other:?}"),
    }
    let started = Instant::now();
    ctx.track("/live", "v1").await;
    match ws.next_significant().await {
        LiveMessage::Event { event, cursor, .. } => {
            assert_eq!(event.pathname, "/live");
            assert!(!cursor.is_empty());
        }
        other => panic!("expected event, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    // the numbers follow
    loop {
        if let LiveMessage::Stats { stats, .. } = ws.next().await {
            assert_eq!(stats.current_visitors, 2);
            break;
        }
    }
}

#[tokio::test]
async fn ws_resume_with_cursor_delivers_exactly_the_missed_events_in_order() {
    let ctx = setup().await;
    let (ws, snapshot) = ctx.watch().await;
    let cursor = cursor_of(&snapshot);
    drop(ws);

    let mut paths = Vec::new();
    for i in 0..50 {
        let p = format!("/p{i}");
        ctx.track(&p, &format!("v{}", i % 7)).await;
        paths.push(p);
    }
    let mut ws = ctx.ws().await;
    ws.subscribe(&ctx.site, Some(&cursor)).await;
    let mut got = Vec::new();
    loop {
        match ws.next().await {
            LiveMessage::Event { event, .. } => got.push(event.pathname),
            LiveMessage::Stats { stats, .. } => {
                assert_eq!(stats.current_visitors, 7);
                break;
            }
            LiveMessage::Heartbeat { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, paths);
    // and the stream continues live, without repeats
    ctx.track("/after", "v9").await;
    match ws.next_significant().await {
        LiveMessage::Event { event, .. } => assert_eq!(event.pathname, "/after"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn ws_unknown_cursor_gets_gap_then_snapshot() {
    let ctx = setup().await;
    ctx.track("/x", "v").await;
    let mut ws = ctx.ws().await;
    ws.subscribe(&ctx.site, Some("999999999")).await;
    assert!(matches!(ws.next().await, LiveMessage::Gap { website_id } if website_id == ctx.site));
    assert!(matches!(ws.next().await, LiveMessage::Snapshot { .. }));
}

#[tokio::test]
async fn ws_survives_bad_commands() {
    let ctx = setup().await;
    let mut ws = ctx.ws().await;
    ws.send(json!({"type": "dance"})).await;
    assert!(matches!(ws.next().await, LiveMessage::Error { code: ErrorCode::BadRequest, .. }));
    ws.0.send(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(matches!(ws.next().await, LiveMessage::Error { code: ErrorCode::BadRequest, .. }));
    ws.subscribe(&ctx.site, Some("not-a-cursor")).await;
    assert!(matches!(ws.next().await, LiveMessage::Error { code: ErrorCode::BadRequest, .. }));
    ws.subscribe("no-such-site", None).await;
    assert!(matches!(ws.next().await, LiveMessage::Error { code: ErrorCode::NotFound, .. }));
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await, LiveMessage::Pong);
}

#[tokio::test]
async fn ws_without_a_token_is_told_unauthorized() {
    let ctx = setup().await;
    let url = format!("ws://{}/api/live/ws", ctx.server.addr);
    let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut ws = Ws(s);
    assert!(matches!(ws.next().await, LiveMessage::Error { code: ErrorCode::Unauthorized, .. }));
}

#[tokio::test]
async fn ws_large_snapshot_with_non_ascii_text_arrives_whole() {
    // ~120 events make a snapshot of tens of KiB, written as many continuation frames; the
    // multi-byte titles make sure no frame boundary breaks a character
    let ctx = setup().await;
    let mut titles = Vec::new();
    for i in 0..120 {
        let title = format!("Café — naïve résumé №{i} ✓");
        let body = json!({"website_id": ctx.site, "url": format!("https://example.com/p{i}"),
                          "title": title, "visitor_id": format!("v{}", i % 9)});
        assert_eq!(ctx.track_raw(body).await.0, 202);
        titles.push(title);
    }
    let (mut ws, snapshot) = ctx.watch().await;
    match snapshot {
        LiveMessage::Snapshot { stats, recent, .. } => {
            assert_eq!(stats.current_visitors, 9);
            assert!(recent.len() >= 100, "only {} recent events", recent.len());
            // newest first, and the titles decoded exactly as tracked
            let got: Vec<&str> = recent.iter().filter_map(|e| e.title.as_deref()).collect();
            let want: Vec<&str> = titles.iter().rev().take(recent.len()).map(String::as_str).collect();
            assert_eq!(got, want);
        }
        other => panic!("expected snapshot, got {other:?}"),
    }
    // the connection carries on normally afterwards
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next_significant().await, LiveMessage::Pong);
}

#[tokio::test]
async fn plain_http_get_on_the_ws_endpoint_is_a_clear_400() {
    let ctx = setup().await;
    let r = ctx.http.get(format!("{}/api/live/ws", ctx.base)).bearer_auth(&ctx.token).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("WebSocket"), "{body}");
}

#[tokio::test]
async fn sse_snapshot_then_event_and_last_event_id_resume() {
    let ctx = setup().await;
    let resp = ctx.sse(&format!("website_id={}", ctx.site), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    let mut s = Sse::new(resp);
    let snap = s.next().await;
    assert_eq!(snap.event, "snapshot");
    let id = snap.id.clone().expect("snapshot has an id");
    let data: Value = serde_json::from_str(&snap.data).unwrap();
    assert_eq!(data["type"], "snapshot");

    let started = Instant::now();
    ctx.track("/sse", "v1").await;
    let ev = s.next_of(&["event"]).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let msg: LiveMessage = serde_json::from_str(&ev.data).unwrap();
    assert!(matches!(msg, LiveMessage::Event { ref event, .. } if event.pathname == "/sse"));
    drop(s);

    for i in 0..5 {
        ctx.track(&format!("/m{i}"), "v2").await;
    }
    let ev_id = ev.id.unwrap();
    assert_ne!(ev_id, id);
    let mut s = Sse::new(ctx.sse(&format!("website_id={}", ctx.site), Some(&ev_id)).await);
    for i in 0..5 {
        let e = s.next_of(&["event", "snapshot", "gap"]).await;
        assert_eq!(e.event, "event");
        let msg: LiveMessage = serde_json::from_str(&e.data).unwrap();
        assert!(matches!(msg, LiveMessage::Event { ref event, .. } if event.pathname == format!("/m{i}")));
    }
}

#[tokio::test]
async fn sse_json_accept_returns_snapshots() {
    let ctx = setup().await;
    ctx.track("/j", "v").await;
    let r = ctx
        .http
        .get(format!("{}/api/live/sse?website_id={}", ctx.base, ctx.site))
        .header("accept", "application/json")
        .bearer_auth(&ctx.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["snapshots"][0]["type"], "snapshot");
    assert_eq!(v["snapshots"][0]["stats"]["current_visitors"], 1);
}

#[tokio::test]
async fn admin_broadcast_reaches_watchers_and_close_ends_streams() {
    let ctx = setup().await;
    let (mut ws, _snapshot) = ctx.watch().await;
    let r = ctx.http.post(format!("{}/api/websites/{}/broadcast", ctx.base, ctx.site))
        .bearer_auth(&ctx.token).json(&json!({"message": "hello watchers"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(matches!(ws.next_significant().await, LiveMessage::Notice { message, .. } if message == "hello watchers"));

    let stats: Value = ctx.http.get(format!("{}/api/live/stats", ctx.base)).bearer_auth(&ctx.token)
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["connections"]["websocket"], 1);
    assert_eq!(stats["subscriptions"], 1);

    let r = ctx.http.delete(format!("{}/api/websites/{}/connections", ctx.base, ctx.site))
        .bearer_auth(&ctx.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(matches!(ws.next_significant().await, LiveMessage::Error { code: ErrorCode::Closed, .. }));
}

#[tokio::test]
async fn stats_carry_the_live_breakdowns_of_the_contract() {
    let ctx = setup().await;
    let (status, _) = ctx
        .track_raw(json!({"website_id": ctx.site, "url": "https://example.com/a", "visitor_id": "v1",
            "referrer": "https://news.ycombinator.com/item?id=1"}))
        .await;
    assert_eq!(status, 202);
    ctx.track("/b", "v2").await;
    let (status, _) =
        ctx.track_raw(json!({"website_id": ctx.site, "type": "signup", "url": "https://example.com/b", "visitor_id": "v2"})).await;
    assert_eq!(status, 202);
    let (_ws, first) = ctx.watch().await;
    let LiveMessage::Snapshot { stats, .. } = first else { panic!("{first:?}") };
    let values = |rows: &[pulse::model::Breakdown]| rows.iter().map(|r| (r.value.clone(), r.visitors, r.count)).collect::<Vec<_>>();
    assert_eq!(values(&stats.sources), [("news.ycombinator.com".to_string(), 1, 1)]);
    assert_eq!(values(&stats.devices), [("desktop".to_string(), 2, 2)]);
    assert_eq!(values(&stats.event_names), [("signup".to_string(), 1, 1)]);
    assert_eq!(stats.visitors_per_minute.len(), 30);
    // all three events fall in the last two minutes (this one, or the one before if the test
    // straddles a minute): two distinct visitors, counted once per minute they were seen in
    let recent: u64 = stats.visitors_per_minute[28..].iter().sum();
    assert!((2..=3).contains(&recent), "{:?}", stats.visitors_per_minute);
    assert_eq!(stats.visitors_per_minute[..28].iter().sum::<u64>(), 0);
}

#[tokio::test]
async fn a_command_over_the_limit_gets_close_code_1009_with_a_reason() {
    let ctx = setup().await;
    let (mut ws, first) = ctx.watch().await;
    assert!(matches!(first, LiveMessage::Snapshot { .. }), "{first:?}");
    let huge = serde_json::json!({"type": "subscribe", "website_id": "x".repeat(9 * 1024)});
    ws.send(huge).await;
    let mut s = ws.0;
    loop {
        match tokio::time::timeout(WAIT, s.next()).await.expect("a close frame within 5 s") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 1009);
                assert!(f.reason.contains("at most 8 KiB"), "{}", f.reason);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
