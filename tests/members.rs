//! Website access (contract §4): granting and revoking members over REST and the CLI, who may
//! do it, and revocation reaching open live streams within 2 s — the WebSocket keeps serving
//! its other websites, the SSE stream ends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use pulse::model::{ErrorCode, LiveMessage};
use serde_json::{json, Value};

async fn put_member(ctx: &Ctx, token: &str, site: &str, email: &str, body: Value) -> (u16, Value) {
    let r = ctx
        .http
        .put(format!("{}/api/websites/{site}/members/{email}", ctx.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn delete_member(ctx: &Ctx, token: &str, site: &str, email: &str) -> u16 {
    let r = ctx
        .http
        .delete(format!("{}/api/websites/{site}/members/{email}", ctx.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

async fn websites(ctx: &Ctx, token: &str) -> Vec<String> {
    let r = ctx.http.get(format!("{}/api/websites", ctx.base)).bearer_auth(token).send().await.unwrap();
    r.json::<Vec<Value>>().await.unwrap().iter().map(|w| w["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn an_admin_grants_a_viewer_who_then_sees_the_website_and_cannot_manage_it() {
    let ctx = setup().await;
    let viewer = member_token(&ctx, "viewer@pulse.local").await;
    member_token(&ctx, "other@pulse.local").await;
    assert!(websites(&ctx, &viewer).await.is_empty());

    let (status, body) = put_member(&ctx, &ctx.token, &ctx.site, "viewer@pulse.local", json!({"role": "viewer"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"website_id": ctx.site, "email": "viewer@pulse.local", "role": "viewer"}));
    assert_eq!(websites(&ctx, &viewer).await, vec![ctx.site.clone()]);
    let (status, body) = put_member(&ctx, &viewer, &ctx.site, "other@pulse.local", json!({})).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "a viewer manages nothing");

    // bad input names the problem; nothing changes
    let (status, body) = put_member(&ctx, &ctx.token, &ctx.site, "other@pulse.local", json!({"role": "owner"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_payload")), "{body}");
    let (status, body) = put_member(&ctx, &ctx.token, &ctx.site, "nobody@pulse.local", json!({})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = put_member(&ctx, &ctx.token, "no-such-site", "other@pulse.local", json!({})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_website")), "{body}");
    let other = member_login(&ctx, "other@pulse.local").await;
    assert!(websites(&ctx, &other).await.is_empty());

    // a website admin may manage members; an empty body means viewer
    let (status, _) = put_member(&ctx, &ctx.token, &ctx.site, "viewer@pulse.local", json!({"role": "admin"})).await;
    assert_eq!(status, 200);
    let (status, body) = put_member(&ctx, &viewer, &ctx.site, "other@pulse.local", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "viewer");
    assert_eq!(websites(&ctx, &other).await, vec![ctx.site.clone()]);
    assert_eq!(delete_member(&ctx, &viewer, &ctx.site, "other@pulse.local").await, 204);
    assert!(websites(&ctx, &other).await.is_empty());
}

#[tokio::test]
async fn revoking_stops_the_members_live_streams_of_that_website_within_two_seconds() {
    let ctx = setup().await;
    let other_site = ctx.add_website().await;
    let token = member_token(&ctx, "viewer@pulse.local").await;
    for site in [&ctx.site, &other_site] {
        assert_eq!(put_member(&ctx, &ctx.token, site, "viewer@pulse.local", json!({})).await.0, 200);
    }
    // a WebSocket on both websites, and an SSE stream on the revoked one
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live/ws?access_token={token}", ctx.server.addr)).await.unwrap();
    let mut ws = Ws(s);
    for site in [&ctx.site, &other_site] {
        ws.subscribe(site, None).await;
        assert!(matches!(ws.next_significant().await, LiveMessage::Snapshot { .. }));
    }
    let r = ctx
        .http
        .get(format!("{}/api/live/sse?website_id={}", ctx.base, ctx.site))
        .header("accept", "text/event-stream")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut sse = Sse::new(r);
    assert_eq!(sse.next_of(&["snapshot"]).await.event, "snapshot");

    let started = Instant::now();
    assert_eq!(delete_member(&ctx, &ctx.token, &ctx.site, "viewer@pulse.local").await, 204);
    match ws.next_significant().await {
        LiveMessage::Error { code: ErrorCode::Forbidden, website_id, .. } => assert_eq!(website_id.as_deref(), Some(ctx.site.as_str())),
        m => panic!("expected forbidden, got {m:?}"),
    }
    let error = sse.next_of(&["error"]).await;
    assert!(error.data.contains("forbidden"), "{}", error.data);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // the SSE stream ends (its only website is gone)
    let ended = tokio::time::timeout(WAIT, async {
        let mut rest = sse.into_inner();
        while let Some(Ok(_)) = rest.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream did not end");
    // no more events of the revoked website; the other one still streams
    ctx.track_on(&ctx.site, "/after-revoke", "v").await;
    ctx.track_on(&other_site, "/still-watched", "v").await;
    match ws.next_significant().await {
        LiveMessage::Event { website_id, event, .. } => {
            assert_eq!((website_id.as_str(), event.pathname.as_str()), (other_site.as_str(), "/still-watched"))
        }
        m => panic!("expected the other website's event, got {m:?}"),
    }
    // and subscribing again is refused
    ws.subscribe(&ctx.site, None).await;
    assert!(matches!(ws.next_significant().await, LiveMessage::Error { code: ErrorCode::Forbidden, .. }));
}

#[tokio::test]
async fn pulse_site_grant_gives_access_a_running_server_honours() {
    let ctx = setup().await;
    let token = member_token(&ctx, "cli@pulse.local").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["site", "grant", "--website", &ctx.site, "--email", "cli@pulse.local", "--role", "admin"])
        .env("PULSE_DATA_DIR", ctx.dir.path())
        .env("PULSE_CONFIG", ctx.dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now admin"));
    assert_eq!(websites(&ctx, &token).await, vec![ctx.site.clone()]);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["site", "grant", "--website", "nope", "--email", "cli@pulse.local"])
        .env("PULSE_DATA_DIR", ctx.dir.path())
        .env("PULSE_CONFIG", ctx.dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no website nope"));
}
