//! Authorization on every channel: a matrix of credentials (none, bad signature, `alg: none`,
//! an RS256-labelled token, expired, logged out, another website, a share link beyond its
//! website, a viewer doing an admin operation) against each endpoint class (page, server
//! function, REST, WebSocket subscribe, SSE), each with its exact answer; and the lifecycle of
//! tokens: expiry ends a stream, an in-band refresh keeps it, logout, password change, user
//! removal and share-link revocation end streams at once.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use futures::StreamExt;
use pulse::model::{ErrorCode, LiveMessage};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a token the server issued.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A token with `header` and `claims`, signed HS256-style with `secret` (or unsigned).
fn forge(header: Value, claims: &Value, secret: Option<&[u8]>) -> String {
    use hmac::{Hmac, Mac};
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = match secret {
        Some(s) => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(s).unwrap();
            mac.update(signing_input.as_bytes());
            b64(&mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{signing_input}.{signature}")
}

/// Every way of presenting a credential that must not work, with the expected REST status.
async fn bad_credentials(ctx: &Ctx) -> Vec<(&'static str, Option<String>)> {
    let secret = std::fs::read(ctx.dir.path().join("jwt-secret")).unwrap();
    let mut claims = claims_of(&ctx.token);
    let now = chrono::Utc::now().timestamp();
    let valid = claims.clone();
    claims["exp"] = json!(now - 5);
    claims["iat"] = json!(now - 100);
    let expired = forge(json!({"alg": "HS256", "typ": "JWT"}), &claims, Some(&secret));
    let bad_signature = forge(json!({"alg": "HS256", "typ": "JWT"}), &valid, Some(b"not the server's secret at all!!"));
    let alg_none = forge(json!({"alg": "none", "typ": "JWT"}), &valid, None);
    // signed with the real secret but labelled RS256: the algorithm is pinned, not read
    let rs_confusion = forge(json!({"alg": "RS256", "typ": "JWT"}), &valid, Some(&secret));
    // a real token whose login ended
    let logged_out = login(&ctx.http, &ctx.base).await;
    let r = ctx.http.post(format!("{}/api/auth/logout", ctx.base)).bearer_auth(&logged_out).send().await.unwrap();
    assert_eq!(r.status(), 204);
    vec![
        ("no token", None),
        ("bad signature", Some(bad_signature)),
        ("alg none", Some(alg_none)),
        ("RS256 label", Some(rs_confusion)),
        ("expired", Some(expired)),
        ("logged out", Some(logged_out)),
    ]
}

async fn rest_status(ctx: &Ctx, site: &str, token: Option<&str>) -> (u16, String) {
    let mut req = ctx.http.get(format!("{}/api/realtime/events/{site}", ctx.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.map(|v| v["error"].as_str().unwrap_or("").to_string()).unwrap_or_default())
}

async fn sse_status(ctx: &Ctx, site: &str, token: Option<&str>) -> (u16, String) {
    let mut url = format!("{}/api/live/sse?website_id={site}", ctx.base);
    if let Some(t) = token {
        url.push_str(&format!("&access_token={t}"));
    }
    let r = ctx.http.get(url).header("accept", "application/json").send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.map(|v| v["error"].as_str().unwrap_or("").to_string()).unwrap_or_default())
}

/// Opens a WebSocket with `token` (if any), subscribes to `site` and returns the first answer.
async fn ws_answer(ctx: &Ctx, site: &str, token: Option<&str>) -> LiveMessage {
    let url = match token {
        Some(t) => format!("ws://{}/api/live/ws?access_token={t}", ctx.server.addr),
        None => format!("ws://{}/api/live/ws", ctx.server.addr),
    };
    let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut ws = Ws(s);
    let _ = futures::SinkExt::send(&mut ws.0, Message::Text(json!({"type": "subscribe", "website_id": site}).to_string().into())).await;
    ws.next_significant().await
}

/// Status and body of a page request with `token` as a Bearer header.
async fn page_status(ctx: &Ctx, site: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = client.get(format!("{}/websites/{site}", ctx.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    (status, location.unwrap_or(r.text().await.unwrap_or_default()))
}

/// A server function call (`website_live`, JSON arguments as the page sends them) with
/// `token` as a Bearer header: status and the typed error's code.
async fn server_fn_answer(ctx: &Ctx, site: &str, token: Option<&str>) -> (u16, String) {
    use leptos::server_fn::ServerFn;
    let path = <pulse::app::server_fns::WebsiteLive as ServerFn>::PATH;
    let mut req = ctx.http.post(format!("{}{path}", ctx.base)).json(&json!({ "website_id": site }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let code = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["code"].as_str().map(str::to_string));
    (status, code.unwrap_or(body))
}

#[tokio::test]
async fn bad_credentials_are_refused_on_every_endpoint_class() {
    let ctx = setup().await;
    for (case, token) in bad_credentials(&ctx).await {
        let t = token.as_deref();
        assert_eq!(rest_status(&ctx, &ctx.site, t).await, (401, "unauthorized".into()), "REST, {case}");
        assert_eq!(sse_status(&ctx, &ctx.site, t).await, (401, "unauthorized".into()), "SSE, {case}");
        match ws_answer(&ctx, &ctx.site, t).await {
            LiveMessage::Error { code: ErrorCode::Unauthorized, .. } => {}
            m => panic!("WebSocket, {case}: {m:?}"),
        }
        let (status, location) = page_status(&ctx, &ctx.site, t).await;
        assert!(status == 303 || status == 302 || status == 307, "page, {case}: {status}");
        assert!(location.starts_with("/login?next="), "page, {case}: {location}");
        let (status, code) = server_fn_answer(&ctx, &ctx.site, t).await;
        assert_ne!(status, 200, "server function, {case}");
        assert_eq!(code, "unauthorized", "server function, {case}");
    }
    // the real token works everywhere, as the control
    assert_eq!(rest_status(&ctx, &ctx.site, Some(&ctx.token)).await.0, 200);
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&ctx.token)).await.0, 200);
    assert!(matches!(ws_answer(&ctx, &ctx.site, Some(&ctx.token)).await, LiveMessage::Snapshot { .. }));
    assert_eq!(page_status(&ctx, &ctx.site, Some(&ctx.token)).await.0, 200);
    assert_eq!(server_fn_answer(&ctx, &ctx.site, Some(&ctx.token)).await.0, 200);
}

#[tokio::test]
async fn a_member_and_a_share_link_reach_their_own_website_only() {
    let ctx = setup().await;
    let other = ctx.add_website().await;
    let member = member_token(&ctx, "member@test.local").await;
    let share = ctx
        .http
        .post(format!("{}/api/websites/{other}/share", ctx.base))
        .bearer_auth(&ctx.token)
        .send()
        .await
        .unwrap();
    assert_eq!(share.status(), 200);
    let share: Value = share.json().await.unwrap();
    let link = share["token"].as_str().unwrap().to_string();
    assert!(share["url"].as_str().unwrap().ends_with(&format!("/share/{link}")));

    // a member without access: 403 forbidden everywhere
    assert_eq!(rest_status(&ctx, &ctx.site, Some(&member)).await, (403, "forbidden".into()));
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&member)).await, (403, "forbidden".into()));
    assert!(matches!(ws_answer(&ctx, &ctx.site, Some(&member)).await, LiveMessage::Error { code: ErrorCode::Forbidden, .. }));
    assert_eq!(server_fn_answer(&ctx, &ctx.site, Some(&member)).await, (500, "forbidden".into()));

    // the share link: its own website's live stream, nothing else
    assert!(matches!(ws_answer(&ctx, &other, Some(&link)).await, LiveMessage::Snapshot { .. }));
    assert_eq!(sse_status(&ctx, &other, Some(&link)).await.0, 200);
    assert!(matches!(ws_answer(&ctx, &ctx.site, Some(&link)).await, LiveMessage::Error { code: ErrorCode::Forbidden, .. }));
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&link)).await, (403, "forbidden".into()));
    assert_eq!(rest_status(&ctx, &other, Some(&link)).await, (403, "forbidden".into()), "no history");
    let admin_op = ctx.http.delete(format!("{}/api/websites/{other}/share", ctx.base)).bearer_auth(&link).send().await.unwrap();
    assert_eq!(admin_op.status(), 403, "no admin action");
    let page = page_status(&ctx, &other, Some(&link)).await;
    assert!(page.1.starts_with("/login"), "the share link opens /share/…, not the logged-in pages: {page:?}");
}

#[tokio::test]
async fn a_viewer_cannot_do_what_needs_the_admin_role() {
    let ctx = setup().await;
    let viewer = member_token(&ctx, "viewer@test.local").await;
    let grant = ctx
        .http
        .put(format!("{}/api/websites/{}/members/viewer@test.local", ctx.base, ctx.site))
        .bearer_auth(&ctx.token)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 200);
    let base = &ctx.base;
    let site = &ctx.site;
    let attempts = [
        ctx.http.post(format!("{base}/api/websites/{site}/share")),
        ctx.http.delete(format!("{base}/api/websites/{site}/share")),
        ctx.http.put(format!("{base}/api/websites/{site}/members/admin@test.local")).json(&json!({"role": "viewer"})),
        ctx.http.delete(format!("{base}/api/websites/{site}/connections")),
        ctx.http.post(format!("{base}/api/websites/{site}/broadcast")).json(&json!({"message": "hi"})),
        ctx.http.get(format!("{base}/api/live/stats")),
    ];
    for req in attempts {
        let r = req.bearer_auth(&viewer).send().await.unwrap();
        let url = r.url().to_string();
        assert_eq!(r.status(), 403, "{url}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden", "{url}");
    }
    // and what a viewer may do
    assert_eq!(rest_status(&ctx, site, Some(&viewer)).await.0, 200);
}

/// Login with the API; returns the access token and the refresh cookie (`name=value`).
async fn login_with_cookie(ctx: &Ctx) -> (String, String) {
    let r = ctx
        .http
        .post(format!("{}/api/auth/login", ctx.base))
        .json(&json!({"email": "admin@test.local", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("pulse_refresh="))
        .expect("a refresh cookie");
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    (token, cookie)
}

/// Reads until an `error unauthorized` and the close frame after it; returns the close code
/// and reason. Panics on a timeout of `within`.
async fn until_unauthorized(ws: &mut Ws, within: Duration) -> (u16, String) {
    tokio::time::timeout(within, async {
        let mut saw_error = false;
        while let Some(msg) = ws.0.next().await {
            match msg.unwrap() {
                Message::Text(t) => {
                    if let LiveMessage::Error { code: ErrorCode::Unauthorized, .. } = serde_json::from_str(&t).unwrap() {
                        saw_error = true;
                    }
                }
                Message::Close(Some(f)) => {
                    assert!(saw_error, "an `error unauthorized` comes before the close frame");
                    return (u16::from(f.code), f.reason.to_string());
                }
                _ => {}
            }
        }
        panic!("the stream ended without a close frame");
    })
    .await
    .expect("the stream was not ended in time")
}

#[tokio::test]
async fn an_expired_token_ends_the_stream_unless_it_is_refreshed_in_band() {
    let ctx = setup_with(|c| {
        c.access_token_secs = 5;
        c.live.heartbeat_secs = 1;
    })
    .await;
    // without a refresh: error unauthorized and close 1008 "unauthorized" at expiry
    let (token, _) = login_with_cookie(&ctx).await;
    let exp = claims_of(&token)["exp"].as_i64().unwrap();
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr)).await.unwrap();
    let mut ws = Ws(s);
    ws.subscribe(&ctx.site, None).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Snapshot { .. }));
    let (code, reason) = until_unauthorized(&mut ws, Duration::from_secs(8)).await;
    assert_eq!((code, reason.as_str()), (1008, "unauthorized"));
    assert!(chrono::Utc::now().timestamp() >= exp, "not before the token expired");

    // with a refresh before expiry: the stream outlives the first token, every event arrives
    let (token, cookie) = login_with_cookie(&ctx).await;
    let exp = claims_of(&token)["exp"].as_i64().unwrap();
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr)).await.unwrap();
    let mut ws = Ws(s);
    ws.subscribe(&ctx.site, None).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Snapshot { .. }));
    // refreshed late in the token's life (as the browser does, at three quarters), so the new
    // token's expiry (whole seconds) is later than the first one's
    while !matches!(ws.next().await, LiveMessage::Heartbeat { server_time } if server_time.timestamp() >= exp - 2) {}
    let r = ctx.http.post(format!("{}/api/auth/refresh", ctx.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let fresh = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert_ne!(claims_of(&fresh)["jti"], claims_of(&token)["jti"]);
    ws.send(json!({"type": "refresh", "token": fresh})).await;
    // heartbeats (every second) until well past the first token's expiry, and an event after it
    loop {
        match ws.next().await {
            LiveMessage::Heartbeat { server_time } if server_time.timestamp() > exp + 1 => break,
            LiveMessage::Error { code, message, .. } => panic!("{code:?}: {message}"),
            _ => {}
        }
    }
    ctx.track("/after-first-expiry", "v").await;
    match ws.next_significant().await {
        LiveMessage::Event { event, .. } => assert_eq!(event.pathname, "/after-first-expiry"),
        m => panic!("{m:?}"),
    }
    // a refresh with a token that does not verify is refused, the stream stays
    ws.send(json!({"type": "refresh", "token": "nonsense"})).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Error { code: ErrorCode::Unauthorized, .. }));
}

#[tokio::test]
async fn refresh_needs_a_live_login_and_logout_ends_it() {
    let ctx = setup().await;
    let none = ctx.http.post(format!("{}/api/auth/refresh", ctx.base)).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let (token, cookie) = login_with_cookie(&ctx).await;
    let tampered = format!("{}x", cookie);
    let r = ctx.http.post(format!("{}/api/auth/refresh", ctx.base)).header("cookie", &tampered).send().await.unwrap();
    assert_eq!(r.status(), 401, "a wrong secret");
    let (mut ws, _) = {
        let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr)).await.unwrap();
        let mut ws = Ws(s);
        ws.subscribe(&ctx.site, None).await;
        let first = ws.next_significant().await;
        (ws, first)
    };
    let out = ctx.http.post(format!("{}/api/auth/logout", ctx.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(out.status(), 204);
    let (code, _) = until_unauthorized(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(code, 1008);
    let r = ctx.http.post(format!("{}/api/auth/refresh", ctx.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 401, "logged out: no more tokens");
    assert_eq!(rest_status(&ctx, &ctx.site, Some(&token)).await.0, 401, "its access token died with it");
}

/// A WebSocket with `token`, subscribed to the context's website (snapshot received).
async fn open_ws(ctx: &Ctx, token: &str) -> Ws {
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr)).await.unwrap();
    let mut ws = Ws(s);
    ws.subscribe(&ctx.site, None).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Snapshot { .. }));
    ws
}

#[tokio::test]
async fn password_change_and_user_removal_end_that_users_streams_at_once() {
    let ctx = setup().await;
    let member = member_token(&ctx, "m@test.local").await;
    let site = &ctx.site;
    ctx.http
        .put(format!("{}/api/websites/{site}/members/m@test.local", ctx.base))
        .bearer_auth(&ctx.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    // a password change (done here through the store, as Settings does) ends every login
    let mut ws = open_ws(&ctx, &member).await;
    let user = ctx.server.state.accounts.user_by_email("m@test.local").await.unwrap().unwrap();
    let hash = pulse::server::auth::hash_password("a brand new password").unwrap();
    ctx.server.state.accounts.set_password(user.id, &hash).await.unwrap();
    ctx.server.state.revocations.announce(pulse::server::live::Revoked::User { user_id: user.id });
    until_unauthorized(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(rest_status(&ctx, site, Some(&member)).await.0, 401);

    // removing the user (Settings' operation) closes their streams
    let r = ctx.http.post(format!("{}/api/auth/login", ctx.base)).json(&json!({"email": "m@test.local", "password": "a brand new password"})).send().await.unwrap();
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let mut ws = open_ws(&ctx, &token).await;
    let admin = ctx.server.state.accounts.user_by_email("admin@test.local").await.unwrap().unwrap();
    pulse::server::settings::delete_user(&ctx.server.state, &admin, user.id).await.unwrap();
    until_unauthorized(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(rest_status(&ctx, site, Some(&token)).await.0, 401);
}

#[tokio::test]
async fn a_revoked_share_link_stops_streaming_within_two_seconds() {
    let ctx = setup().await;
    let create = || async {
        let r = ctx.http.post(format!("{}/api/websites/{}/share", ctx.base, ctx.site)).bearer_auth(&ctx.token).send().await.unwrap();
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    };
    let link = create().await;
    // WebSocket and SSE opened with the link
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={link}", ctx.server.addr)).await.unwrap();
    let mut ws = Ws(s);
    ws.subscribe(&ctx.site, None).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Snapshot { .. }));
    let sse = ctx.http.get(format!("{}/api/live/sse?website_id={}&access_token={link}", ctx.base, ctx.site)).send().await.unwrap();
    assert_eq!(sse.status(), 200);
    let mut sse = Sse::new(sse);
    assert_eq!(sse.next_of(&["snapshot"]).await.event, "snapshot");

    let started = std::time::Instant::now();
    let r = ctx.http.delete(format!("{}/api/websites/{}/share", ctx.base, ctx.site)).bearer_auth(&ctx.token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    until_unauthorized(&mut ws, Duration::from_secs(2)).await;
    let e = sse.next_of(&["error"]).await;
    assert!(e.data.contains("unauthorized"), "{}", e.data);
    let mut body = sse.into_inner();
    let ended = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = body.next().await {} }).await;
    assert!(ended.is_ok(), "the SSE stream ends");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&link)).await.0, 401, "the link opens nothing any more");
    let again = ctx.http.delete(format!("{}/api/websites/{}/share", ctx.base, ctx.site)).bearer_auth(&ctx.token).send().await.unwrap();
    assert_eq!(again.status(), 404);

    // a new link replaces (and ends) the previous one
    let first = create().await;
    let second = create().await;
    assert_ne!(first, second);
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&first)).await.0, 401);
    assert_eq!(sse_status(&ctx, &ctx.site, Some(&second)).await.0, 200);
}

#[tokio::test]
async fn events_from_hosts_the_website_does_not_allow_are_refused_and_kept_params_stay() {
    let ctx = setup().await;
    let (status, body) = ctx.track_raw(json!({"website_id": ctx.site, "url": "https://evil.example/x"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_payload");
    assert!(body["message"].as_str().unwrap().contains("evil.example"), "{body}");
    // the domain's subdomains are the website's
    let (status, _) = ctx.track_raw(json!({"website_id": ctx.site, "url": "https://shop.example.com/x"})).await;
    assert_eq!(status, 202);
    let (status, _) = ctx.track_raw(json!({"website_id": ctx.site, "url": "https://notexample.com/x"})).await;
    assert_eq!(status, 400, "a suffix is not a subdomain");

    // Settings: another host allowed, and a query parameter kept
    let admin = ctx.server.state.accounts.user_by_email("admin@test.local").await.unwrap().unwrap();
    let form = pulse::model::WebsiteForm {
        domain: "example.com".into(),
        name: "Example".into(),
        timezone: "Europe/Berlin".into(),
        allowed_hostnames: "shop.example.net".into(),
        url_params: "page".into(),
    };
    pulse::server::settings::update_website(&ctx.server.state, &admin, &ctx.site, &form).await.unwrap();
    let (mut ws, _) = ctx.watch().await;
    let (status, _) = ctx
        .track_raw(json!({"website_id": ctx.site, "url": "https://shop.example.net/list?page=2&token=s3cret&utm_source=x"}))
        .await;
    assert_eq!(status, 202, "the cache saw the change at once");
    match ws.next_significant().await {
        LiveMessage::Event { event, .. } => assert_eq!(event.url, "https://shop.example.net/list?page=2&utm_source=x"),
        m => panic!("{m:?}"),
    }
}

#[tokio::test]
async fn one_website_over_its_ingest_rate_gets_429_with_retry_after() {
    let ctx = setup_with(|c| {
        c.ingest.rate_per_website = 2;
        c.ingest.burst_per_website = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, body) = ctx.track_raw(json!({"website_id": ctx.site, "url": format!("https://example.com/r{i}")})).await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(body["error"], "rate_limited");
            break;
        }
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    // another website is not held back by it
    let other = ctx.add_website().await;
    let (status, _) = ctx.track_raw(json!({"website_id": other, "url": "https://example.com/o"})).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_user_added_without_a_password_sets_one_through_the_one_time_setup_link() {
    let ctx = setup().await;
    let admin = ctx.server.state.accounts.user_by_email("admin@test.local").await.unwrap().unwrap();
    let headers = reqwest::header::HeaderMap::new();
    let link = pulse::server::settings::create_user(&ctx.server.state, &headers, &admin, "new@test.local", None, false)
        .await
        .unwrap()
        .expect("a setup link");
    let token = link.rsplit('/').next().unwrap().to_string();
    // nobody can log in to it before the link is used
    let r = ctx.http.post(format!("{}/api/auth/login", ctx.base)).json(&json!({"email": "new@test.local", "password": ""})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let page = ctx.http.get(format!("{}/setup/{token}", ctx.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("new@test.local"), "the page names the account");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let set = |password: &'static str| {
        client
            .post(format!("{}/api/auth/setup", ctx.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&password={password}"))
            .send()
    };
    let short = set("short").await.unwrap();
    assert!(short.headers()["location"].to_str().unwrap().contains("error="), "too short: back to the form");
    let ok = set("long enough password").await.unwrap();
    assert_eq!(ok.headers()["location"], "/");
    assert_eq!(ok.headers().get_all("set-cookie").iter().count(), 2, "logged in");
    let again = set("another long password").await.unwrap();
    assert!(again.headers()["location"].to_str().unwrap().contains("error="), "one time only");
    let r = ctx
        .http
        .post(format!("{}/api/auth/login", ctx.base))
        .json(&json!({"email": "new@test.local", "password": "long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_sse_stream_ended_by_expiry_resumes_exactly_after_the_last_message_read() {
    let ctx = setup_with(|c| c.access_token_secs = 5).await;
    let (token, cookie) = login_with_cookie(&ctx).await;
    let open = |token: String, last: Option<String>| {
        let mut req = ctx
            .http
            .get(format!("{}/api/live/sse?website_id={}&access_token={token}", ctx.base, ctx.site))
            .header("accept", "text/event-stream");
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        req.send()
    };
    let mut sse = Sse::new(open(token, None).await.unwrap());
    let mut last = sse.next_of(&["snapshot"]).await.id;
    for i in 0..3 {
        ctx.track(&format!("/before-{i}"), "v").await;
        let e = sse.next_of(&["event"]).await;
        assert_eq!(event_path(&e.data), format!("/before-{i}"));
        last = e.id;
    }
    // the token expires: `error unauthorized`, then the stream ends
    let e = sse.next_of(&["error"]).await;
    assert!(e.data.contains("unauthorized"), "{}", e.data);
    let mut body = sse.into_inner();
    tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = body.next().await {} })
        .await
        .expect("the stream ends");
    // events while the client is away, then a refreshed token and Last-Event-ID
    for i in 0..3 {
        ctx.track(&format!("/away-{i}"), "v").await;
    }
    let r = ctx.http.post(format!("{}/api/auth/refresh", ctx.base)).header("cookie", &cookie).send().await.unwrap();
    let fresh = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let mut sse = Sse::new(open(fresh, last).await.unwrap());
    for i in 0..3 {
        let e = sse.next_of(&["event", "snapshot", "gap"]).await;
        assert_eq!(e.event, "event", "resumed by replay, not a fresh snapshot");
        assert_eq!(event_path(&e.data), format!("/away-{i}"), "each missed event once, in order");
    }
    ctx.track("/after", "v").await;
    assert_eq!(event_path(&sse.next_of(&["event"]).await.data), "/after");
}
