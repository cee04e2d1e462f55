//! Live connection limits at their defaults (5 per user, 10 per IP): the next connection is
//! refused with `too_many_connections` — a WebSocket `error` plus a close frame naming it, SSE
//! `429` with `Retry-After` — and a forged `X-Forwarded-For` entry does not dodge them.

mod common;

use common::*;
use futures::StreamExt;
use pulse::model::{ErrorCode, LiveMessage};
use pulse::server::config::{LiveConfig, TrustProxy};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn limited(tweak: impl FnOnce(&mut pulse::server::config::Config)) -> Ctx {
    setup_with(|c| {
        c.live.max_connections_per_user = LiveConfig::default().max_connections_per_user;
        c.live.max_connections_per_ip = LiveConfig::default().max_connections_per_ip;
        tweak(c);
    })
    .await
}

/// A WebSocket as `token`, claiming `forwarded` in `X-Forwarded-For`; its first message.
async fn open(ctx: &Ctx, token: &str, forwarded: Option<&str>) -> (Ws, LiveMessage) {
    let url = format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr);
    let mut req = url.into_client_request().unwrap();
    if let Some(f) = forwarded {
        req.headers_mut().insert("x-forwarded-for", f.parse().unwrap());
    }
    let (s, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut ws = Ws(s);
    ws.subscribe(&ctx.site, None).await;
    let first = ws.next().await;
    (ws, first)
}

/// The `error` and the close frame a refused WebSocket gets.
async fn assert_refused(ws: Ws, first: LiveMessage, why: &str) {
    match first {
        LiveMessage::Error { code: ErrorCode::TooManyConnections, message, .. } => {
            assert!(message.contains(why), "{message}")
        }
        m => panic!("expected too_many_connections, got {m:?}"),
    }
    let mut s = ws.0;
    loop {
        match tokio::time::timeout(WAIT, s.next()).await.expect("a close frame within 5 s") {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(f.reason.as_str(), "too_many_connections");
                return;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_sixth_connection_of_a_user_is_refused_until_one_closes() {
    let ctx = limited(|_| {}).await;
    let mut open_ones = Vec::new();
    for _ in 0..5 {
        let (ws, first) = open(&ctx, &ctx.token, None).await;
        assert!(matches!(first, LiveMessage::Snapshot { .. }), "{first:?}");
        open_ones.push(ws);
    }
    let (ws, first) = open(&ctx, &ctx.token, None).await;
    assert_refused(ws, first, "per user").await;
    // SSE counts against the same limit
    let r = ctx.sse(&format!("website_id={}", ctx.site), None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "too_many_connections");
    // closing one frees its slot
    let mut closed = open_ones.pop().unwrap().0;
    closed.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_ws, first) = open(&ctx, &ctx.token, None).await;
        if matches!(first, LiveMessage::Snapshot { .. }) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed slot was not freed: {first:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_eleventh_connection_of_an_ip_is_refused_whatever_the_client_writes_in_x_forwarded_for() {
    // behind one trusted proxy: the rightmost entry is the address the proxy saw
    let ctx = limited(|c| c.trust_proxy = TrustProxy::Hops(1)).await;
    let tokens = [ctx.token.clone(), member_token(&ctx, "a@pulse.local").await, member_token(&ctx, "b@pulse.local").await];
    let mut held = Vec::new();
    for i in 0..10 {
        // a different forged client-side entry each time, the same proxy-side address
        let forwarded = format!("198.51.100.{i}, 203.0.113.7");
        let (ws, first) = open(&ctx, &tokens[i / 5], Some(&forwarded)).await;
        // members see no website: refused with `forbidden`, but the connection stays open
        assert!(
            matches!(first, LiveMessage::Snapshot { .. } | LiveMessage::Error { code: ErrorCode::Forbidden, .. }),
            "{first:?}"
        );
        held.push(ws);
    }
    let (ws, first) = open(&ctx, &tokens[2], Some("192.0.2.1, 203.0.113.7")).await;
    assert_refused(ws, first, "per IP").await;
    // another client address behind the same proxy still gets in
    let (_ws, first) = open(&ctx, &tokens[2], Some("203.0.113.8")).await;
    assert!(matches!(first, LiveMessage::Error { code: ErrorCode::Forbidden, .. }), "{first:?}");
}
