//! `POST /api/track` against a real server: the contract's answers for good and bad input.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn accepts_json_and_text_plain_and_stores_durably() {
    let ctx = setup().await;
    let id = ctx.track("/a", "v1").await;
    let r = ctx
        .http
        .post(format!("{}/api/track", ctx.base))
        .header("user-agent", CHROME)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(json!({"website_id": ctx.site, "url": "https://example.com/b?utm_source=news"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let stored = ctx.server.state.events.newest(&ctx.site, 10, None).await.unwrap();
    assert_eq!(stored.events.len(), 2, "202 means stored");
    let b = &stored.events[0].event;
    assert_eq!(b.pathname, "/b");
    assert_eq!(b.source.as_deref(), Some("news"));
    assert_eq!(b.browser.as_deref(), Some("Chrome"));
    assert_eq!(stored.events[1].event.id.to_string(), id);
}

#[tokio::test]
async fn the_same_event_id_twice_is_stored_once() {
    let ctx = setup().await;
    let eid = uuid::Uuid::new_v4().to_string();
    let body = json!({"website_id": ctx.site, "url": "https://example.com/", "event_id": eid});
    for _ in 0..2 {
        let (s, b) = ctx.track_raw(body.clone()).await;
        assert_eq!(s, 202);
        assert_eq!(b["id"], json!(eid));
    }
    assert_eq!(ctx.server.state.events.newest(&ctx.site, 10, None).await.unwrap().events.len(), 1);
}

async fn expect_error(ctx: &Ctx, body: Value, status: u16, code: &str, mentions: &str) {
    let (s, b) = ctx.track_raw(body.clone()).await;
    assert_eq!(s, status, "{body} → {b}");
    assert_eq!(b["error"], json!(code), "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains(mentions), "message {msg:?} should name {mentions:?}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored() {
    let ctx = setup().await;
    let site = ctx.site.clone();
    expect_error(&ctx, json!({"website_id": site}), 400, "invalid_payload", "url").await;
    expect_error(&ctx, json!({"url": "https://example.com/"}), 400, "invalid_payload", "website_id").await;
    expect_error(&ctx, json!({"website_id": site, "url": "notaurl"}), 400, "invalid_payload", "url").await;
    expect_error(&ctx, json!({"website_id": 7, "url": "https://e.com/"}), 400, "invalid_payload", "website_id").await;
    expect_error(&ctx, json!({"website_id": site, "url": "https://e.com/", "event_id": "nope"}), 400, "invalid_payload", "event_id").await;
    expect_error(&ctx, json!({"website_id": site, "url": "https://e.com/", "props": {"k": {"nested": 1}}}), 400, "invalid_payload", "props").await;
    expect_error(&ctx, json!({"website_id": site, "url": "https://e.com/", "type": "x".repeat(65)}), 400, "invalid_payload", "type").await;
    expect_error(&ctx, json!({"website_id": site, "url": "https://e.com/", "screen_width": -1}), 400, "invalid_payload", "screen_width").await;
    let many: serde_json::Map<String, Value> = (0..31).map(|i| (format!("k{i}"), json!(i))).collect();
    expect_error(&ctx, json!({"website_id": site, "url": "https://e.com/", "props": many}), 400, "invalid_payload", "props").await;
    expect_error(&ctx, json!({"website_id": "no-such-site", "url": "https://e.com/"}), 404, "unknown_website", "no-such-site").await;

    let r = ctx.http.post(format!("{}/api/track", ctx.base)).header("user-agent", CHROME)
        .header("content-type", "application/json").body("{\"website_id\": ").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_payload");

    let big = json!({"website_id": site, "url": "https://e.com/", "title": "x".repeat(17 * 1024)});
    let (s, b) = ctx.track_raw(big).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(b["error"], "payload_too_large");

    let r = ctx.http.post(format!("{}/api/track", ctx.base)).header("user-agent", CHROME)
        .header("content-type", "application/x-www-form-urlencoded").body("a=b").send().await.unwrap();
    assert_eq!(r.status(), 415);

    assert!(ctx.server.state.events.newest(&ctx.site, 10, None).await.unwrap().events.is_empty());
}

#[tokio::test]
async fn bots_are_acknowledged_but_not_stored() {
    let ctx = setup().await;
    let r = ctx.http.post(format!("{}/api/track", ctx.base))
        .header("user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
        .json(&json!({"website_id": ctx.site, "url": "https://example.com/"}))
        .send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"id": null, "dropped": "bot"}));
    assert!(ctx.server.state.events.newest(&ctx.site, 10, None).await.unwrap().events.is_empty());
}

#[tokio::test]
async fn over_the_rate_a_client_gets_429_with_retry_after() {
    let ctx = setup_with(|c| {
        c.ingest.rate_per_ip = 1;
        c.ingest.burst_per_ip = 3;
    })
    .await;
    let mut limited = None;
    for _ in 0..10 {
        let r = ctx.http.post(format!("{}/api/track", ctx.base)).header("user-agent", CHROME)
            .json(&json!({"website_id": ctx.site, "url": "https://example.com/"})).send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the 10th request within a second should be limited");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
}

#[tokio::test]
async fn tracking_answers_cors_preflight_for_any_origin() {
    let ctx = setup().await;
    let r = ctx.http.request(reqwest::Method::OPTIONS, format!("{}/api/track", ctx.base))
        .header("origin", "https://some-site.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send().await.unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn login_refuses_a_wrong_password_and_live_endpoints_need_a_token() {
    let ctx = setup().await;
    let r = ctx.http.post(format!("{}/api/auth/login", ctx.base))
        .json(&json!({"email": "admin@test.local", "password": "wrong"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_credentials");
    let r = ctx.http.get(format!("{}/api/live/sse?website_id={}", ctx.base, ctx.site)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
}

/// Logs in as `email` with a wrong password from `ip` (a trusted proxy's `X-Forwarded-For`)
/// until the answer is `429`; returns the statuses.
async fn guess(ctx: &Ctx, emails: impl Fn(usize) -> String, ip: impl Fn(usize) -> String) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..20 {
        let r = ctx.http.post(format!("{}/api/auth/login", ctx.base))
            .header("x-forwarded-for", ip(i))
            .json(&json!({"email": emails(i), "password": "guess"})).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
            break;
        }
    }
    statuses
}

#[tokio::test]
async fn password_guessing_is_rate_limited_per_ip_and_per_account() {
    let ctx = setup_with(|c| {
        c.trust_proxy = pulse::server::config::TrustProxy::Flag(true);
        c.login_per_ip_per_minute = 10;
        c.login_per_account_per_minute = 5;
    }).await;
    // one address trying many accounts: the 11th attempt is refused
    let per_ip = guess(&ctx, |i| format!("user{i}@test.local"), |_| "203.0.113.1".into()).await;
    assert_eq!(per_ip.len(), 11, "{per_ip:?}");
    assert!(per_ip[..10].iter().all(|s| *s == 401) && per_ip[10] == 429, "{per_ip:?}");
    // many addresses guessing one account: after 5 failures its budget is spent, the 6th
    // failure locks it, and the next attempt is refused without checking the password
    let per_account = guess(&ctx, |_| "Someone@Test.local".into(), |i| format!("198.51.100.{i}")).await;
    assert_eq!(per_account.len(), 7, "{per_account:?}");
    assert!(per_account[..6].iter().all(|s| *s == 401) && per_account[6] == 429, "{per_account:?}");
}

#[tokio::test]
async fn secrets_in_the_page_url_are_neither_stored_nor_streamed() {
    let ctx = setup().await;
    let (mut ws, _) = ctx.watch().await;
    let (status, body) = ctx
        .track_raw(json!({
            "website_id": ctx.site,
            "url": "https://example.com/reset?token=s3cret&email=ann%40example.com&utm_source=mail#step2",
            "referrer": "https://example.com/login?token=s3cret",
        }))
        .await;
    assert_eq!(status, 202, "{body}");
    let clean = "https://example.com/reset?utm_source=mail";
    let streamed = loop {
        if let pulse::model::LiveMessage::Event { event, .. } = ws.next_significant().await {
            break event;
        }
    };
    assert_eq!(streamed.url, clean);
    assert_eq!(streamed.referrer.as_deref(), Some("https://example.com/login"));
    assert_eq!(streamed.source.as_deref(), Some("mail"));
    let stored = ctx.server.state.events.newest(&ctx.site, 1, None).await.unwrap();
    assert_eq!(stored.events[0].event.url, clean);
    assert_eq!(stored.events[0].event.referrer.as_deref(), Some("https://example.com/login"));
}
