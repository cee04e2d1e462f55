//! History REST (contract §3 event lists): newest-first pages that neither repeat nor skip
//! while events keep arriving, ranges across days, the last N minutes, and clear `400`s.

mod common;

use chrono::{Duration, Utc};
use common::*;
use pulse::model::{Event, EventList};
use pulse::server::store::EncodedEvent;
use serde_json::Value;

async fn get(ctx: &Ctx, path_and_query: &str) -> (u16, Value) {
    let r = ctx.http.get(format!("{}{path_and_query}", ctx.base)).bearer_auth(&ctx.token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn page(ctx: &Ctx, path_and_query: &str) -> EventList {
    let (status, body) = get(ctx, path_and_query).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn paths(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.pathname.as_str()).collect()
}

#[tokio::test]
async fn pages_walk_back_without_repeats_or_skips_while_new_events_arrive() {
    let ctx = setup().await;
    for i in 0..7 {
        ctx.track(&format!("/p{i}"), "v").await;
    }
    let base = format!("/api/realtime/events/{}", ctx.site);
    let first = page(&ctx, &format!("{base}?limit=3")).await;
    assert_eq!(paths(&first.events), ["/p6", "/p5", "/p4"]);
    let mut cursor = first.next_cursor.clone().expect("more pages");
    // new events between pages land before the first page, not in the walk
    ctx.track("/new1", "v").await;
    ctx.track("/new2", "v").await;
    let mut seen = paths(&first.events).into_iter().map(String::from).collect::<Vec<_>>();
    loop {
        let next = page(&ctx, &format!("{base}?limit=3&cursor={cursor}")).await;
        seen.extend(next.events.iter().map(|e| e.pathname.clone()));
        match next.next_cursor {
            Some(c) => cursor = c,
            None => break,
        }
    }
    assert_eq!(seen, ["/p6", "/p5", "/p4", "/p3", "/p2", "/p1", "/p0"]);
    let fresh = page(&ctx, &format!("{base}?limit=2")).await;
    assert_eq!(paths(&fresh.events), ["/new2", "/new1"]);
    // a page that is exactly the rest says so
    let all = page(&ctx, &format!("{base}?limit=9")).await;
    assert_eq!(all.events.len(), 9);
    assert_eq!(all.next_cursor, None);
}

#[tokio::test]
async fn a_range_spans_days_and_the_stream_holds_the_last_minutes() {
    let ctx = setup().await;
    let now = Utc::now();
    // history from other days, stored as an import would store it
    let old: Vec<EncodedEvent> = [10i64, 3, 1]
        .iter()
        .map(|days| {
            let mut e = event(&ctx.site, &format!("/days-ago-{days}"), "old-visitor", now - Duration::days(*days));
            e.props.insert("plan".into(), pulse::model::PropValue::Text("pro".into()));
            EncodedEvent::new(e).unwrap()
        })
        .collect();
    ctx.server.state.events.append(&old).await.unwrap();
    ctx.track("/today", "v").await;
    let base = format!("/api/realtime/events/{}", ctx.site);
    let day = |d: i64| (now - Duration::days(d)).format("%Y-%m-%d").to_string();

    let week = page(&ctx, &format!("{base}/range?from={}&to={}", day(5), day(-1))).await;
    assert_eq!(paths(&week.events), ["/today", "/days-ago-1", "/days-ago-3"]);
    assert_eq!(week.events[1].props.get("plan"), Some(&pulse::model::PropValue::Text("pro".into())));
    // paging inside a range keeps to the range
    let first = page(&ctx, &format!("{base}/range?from={}&limit=2", day(30))).await;
    assert_eq!(paths(&first.events), ["/today", "/days-ago-1"]);
    let rest = page(&ctx, &format!("{base}/range?from={}&limit=2&cursor={}", day(30), first.next_cursor.unwrap())).await;
    assert_eq!(paths(&rest.events), ["/days-ago-3", "/days-ago-10"]);
    assert_eq!(rest.next_cursor, None);
    // `to` is exclusive; RFC 3339 times work as well as dates
    let to = (now - Duration::days(1)).to_rfc3339();
    let before = page(&ctx, &format!("{base}/range?from={}&to={}", day(30), urlencode(&to))).await;
    assert_eq!(paths(&before.events), ["/days-ago-3", "/days-ago-10"]);

    let recent = page(&ctx, &format!("{base}/stream?minutes=5")).await;
    assert_eq!(paths(&recent.events), ["/today"]);
    let default = page(&ctx, &format!("{base}/stream")).await;
    assert_eq!(paths(&default.events), ["/today"]);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_parameters_answer_400_naming_the_parameter_and_access_is_checked() {
    let ctx = setup().await;
    let base = format!("/api/realtime/events/{}", ctx.site);
    for (query, names) in [
        (format!("{base}?limit=0"), "`limit`"),
        (format!("{base}?limit=5000"), "`limit`"),
        (format!("{base}?limit=ten"), "`limit`"),
        (format!("{base}?cursor=not-a-cursor"), "`cursor`"),
        (format!("{base}/range"), "`from`"),
        (format!("{base}/range?from=yesterday"), "`from`"),
        (format!("{base}/range?from=2026-01-02&to=2026-01-01"), "`from`"),
        (format!("{base}/range?from=2026-01-01&to=soon"), "`to`"),
        (format!("{base}/stream?minutes=0"), "`minutes`"),
        (format!("{base}/stream?minutes=99999"), "`minutes`"),
    ] {
        let (status, body) = get(&ctx, &query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "bad_request", "{query}");
        assert!(body["message"].as_str().unwrap().contains(names), "{query}: {body}");
    }
    let (status, body) = get(&ctx, "/api/realtime/events/no-such-site").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_website")));
    // no login
    let r = ctx.http.get(format!("{}{base}", ctx.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // a member without access to this website
    let token = member_token(&ctx, "member@pulse.local").await;
    let r = ctx.http.get(format!("{}{base}", ctx.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
    // to them an unknown id looks the same: ids cannot be probed
    let r = ctx.http.get(format!("{}/api/realtime/events/no-such-site", ctx.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
}
