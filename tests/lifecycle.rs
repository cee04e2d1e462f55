//! Shutdown and multi-website streams: what an operator and a multi-site admin rely on.

mod common;

use common::*;
use futures::StreamExt;
use pulse::model::LiveMessage;
use pulse::server::store::{EventStore, SqliteStore};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn shutdown_flushes_acknowledged_events_and_closes_live_sockets_as_going_away() {
    let ctx = setup().await;
    let (mut ws, _snapshot) = ctx.watch().await;
    for i in 0..20 {
        ctx.track(&format!("/s{i}"), "v").await;
    }
    let Ctx { server, dir, site, .. } = ctx;
    server.stop().await.unwrap();

    let close = loop {
        match tokio::time::timeout(WAIT, ws.0.next()).await.expect("close within 5 s") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("close frame").code), 1001);
    let stored = SqliteStore::open(dir.path()).unwrap().newest(&site, 100, None).await.unwrap();
    assert_eq!(stored.events.len(), 20, "every acknowledged event survives shutdown");
}

#[tokio::test]
async fn one_sse_stream_over_two_websites_resumes_both_exactly() {
    let ctx = setup().await;
    let other = ctx.add_website().await;
    let query = format!("website_id={}&website_id={}", ctx.site, other);
    let mut s = Sse::new(ctx.sse(&query, None).await);
    s.next_of(&["snapshot"]).await;
    let second = s.next_of(&["snapshot"]).await;
    let id = second.id.expect("id covering both websites");

    ctx.track("/a1", "v").await;
    ctx.track_on(&other, "/b1", "o").await;
    let mut last = id;
    for _ in 0..2 {
        last = s.next_of(&["event"]).await.id.unwrap();
    }
    drop(s);

    ctx.track("/a2", "v").await;
    ctx.track_on(&other, "/b2", "o").await;
    let mut s = Sse::new(ctx.sse(&query, Some(&last)).await);
    let mut paths = Vec::new();
    for _ in 0..2 {
        let e = s.next_of(&["event", "snapshot", "gap"]).await;
        assert_eq!(e.event, "event", "{e:?}");
        match serde_json::from_str::<LiveMessage>(&e.data).unwrap() {
            LiveMessage::Event { event, .. } => paths.push(event.pathname),
            m => panic!("{m:?}"),
        }
    }
    paths.sort();
    assert_eq!(paths, vec!["/a2", "/b2"]);
}

#[tokio::test]
async fn country_comes_from_the_bundled_database_behind_a_trusted_proxy() {
    let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");
    assert!(db.exists(), "the country database is missing: run scripts/setup.sh");
    let ctx = setup_with(|c| {
        c.trust_proxy = pulse::server::config::TrustProxy::Hops(2);
        c.geoip_db = Some(db);
    })
    .await;
    let r = ctx
        .http
        .post(format!("{}/api/track", ctx.base))
        .header("user-agent", CHROME)
        .header("x-forwarded-for", "8.8.8.8, 10.0.0.1")
        .json(&json!({"website_id": ctx.site, "url": "https://example.com/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let _: Value = r.json().await.unwrap();
    let stored = ctx.server.state.events.newest(&ctx.site, 1, None).await.unwrap();
    assert_eq!(stored.events[0].event.country.as_deref(), Some("US"));
}

#[tokio::test]
async fn pages_send_a_stranger_to_the_login_while_apis_answer_for_themselves() {
    let ctx = setup().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/websites/{}?tab=live", ctx.base, ctx.site)).send().await.unwrap();
    assert!(page.status().is_redirection(), "{}", page.status());
    let to = page.headers()["location"].to_str().unwrap();
    assert_eq!(to, format!("/login?next=%2Fwebsites%2F{}%3Ftab%3Dlive", ctx.site));
    let api = http.get(format!("{}/api/websites", ctx.base)).send().await.unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(api.json::<serde_json::Value>().await.unwrap()["error"], "unauthorized");
    let track = http
        .post(format!("{}/api/track", ctx.base))
        .json(&serde_json::json!({"website_id": ctx.site, "url": "https://example.com/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(track.status(), 202);
    let signed_in = http.get(format!("{}/", ctx.base)).bearer_auth(&ctx.token).send().await.unwrap();
    assert_eq!(signed_in.status(), 200);
}

#[tokio::test]
async fn the_tracking_snippet_carries_an_absolute_address_that_works_when_pasted_elsewhere() {
    let ctx = setup().await;
    let page = |ctx: &Ctx| {
        ctx.http.get(format!("{}/", ctx.base)).bearer_auth(&ctx.token).send()
    };
    let html = page(&ctx).await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("http://{}/tracker.js", ctx.server.addr)), "the request's address");
    assert!(!html.contains("src=&quot;/tracker.js") && !html.contains("src=\"/tracker.js"), "no relative snippet");
    let ctx = setup_with(|c| c.public_url = Some("https://pulse.example.com".into())).await;
    let html = page(&ctx).await.unwrap().text().await.unwrap();
    assert!(html.contains("https://pulse.example.com/tracker.js"), "the configured public_url");
}
