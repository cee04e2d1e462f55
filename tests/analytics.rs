//! Analytics (contract §3 stats): every aggregate checked against a brute-force computation
//! over generated events — across days, around DST changes in the website's time zone, under
//! single and combined filters — and the REST endpoint's parameters, access and CSV export;
//! `pulse import` (idempotent, rejections named).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use pulse::model::{Breakdown, Device, Event, PropValue, StatsFilters, StatsReport};
use pulse::server::analytics::StatsQuery;
use pulse::server::store::EncodedEvent;
use serde_json::Value;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Visits of `visitors` people over `days` days from `start`: each visit a few pageviews
/// minutes apart, sometimes a custom event, sometimes a second visit hours later.
fn generate(site: &str, start: DateTime<Utc>, days: i64, visitors: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed);
    let paths = ["/", "/pricing", "/docs", "/blog/launch", "/signup"];
    let sources = ["google.com", "news.ycombinator.com", "twitter.com"];
    let mediums = ["email", "cpc", "social"];
    let campaigns = ["launch", "black friday", "spring"];
    let browsers = ["Chrome", "Firefox", "Safari"];
    let oses = ["Linux", "macOS", "Windows", "iOS"];
    let countries = ["DE", "US", "FR"];
    let mut out = Vec::new();
    for v in 0..visitors {
        let visits = 1 + rng.next() % 3;
        for _ in 0..visits {
            let mut t = start + Duration::minutes((rng.next() % (days as u64 * 24 * 60)) as i64);
            let utm = rng.next().is_multiple_of(4);
            let source = (!rng.next().is_multiple_of(3)).then(|| rng.pick(&sources).to_string());
            let views = 1 + rng.next() % 4;
            let (browser, os, country) = (rng.pick(&browsers), rng.pick(&oses), rng.pick(&countries));
            let device = if os == "iOS" { Device::Mobile } else { Device::Desktop };
            for i in 0..views {
                let path = rng.pick(&paths);
                let mut e = event(site, path, &format!("visitor-{v}"), t);
                e.url = if utm && i == 0 {
                    let c = rng.pick(&campaigns).replace(' ', "%20");
                    format!("https://example.com{path}?utm_medium={}&utm_campaign={c}", rng.pick(&mediums))
                } else {
                    format!("https://example.com{path}")
                };
                e.source = source.clone();
                e.browser = Some(browser.into());
                e.os = Some(os.into());
                e.country = Some(country.into());
                e.device = device;
                out.push(e);
                if rng.next().is_multiple_of(5) {
                    let mut custom = event(site, path, &format!("visitor-{v}"), t + Duration::seconds(20));
                    custom.kind = if rng.next().is_multiple_of(2) { "signup".into() } else { "download".into() };
                    custom.props.insert("plan".into(), PropValue::Text(rng.pick(&["free", "pro"]).into()));
                    custom.browser = Some(browser.into());
                    custom.os = Some(os.into());
                    custom.device = device;
                    out.push(custom);
                }
                t += Duration::minutes((1 + rng.next() % 12) as i64);
            }
        }
    }
    out.sort_by_key(|e| e.time);
    out
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn prop(e: &Event, key: &str) -> Option<String> {
    e.props.get(key).map(|p| match p {
        PropValue::Text(s) => s.clone(),
        PropValue::Number(n) => n.to_string(),
        PropValue::Bool(b) => b.to_string(),
    })
}

fn matches(e: &Event, f: &StatsFilters) -> bool {
    let is = |want: &Option<String>, have: Option<String>| want.is_none() || *want == have;
    is(&f.kind, Some(e.kind.clone()))
        && is(&f.pathname, Some(e.pathname.clone()))
        && is(&f.source, e.source.clone())
        && is(&f.utm_medium, param(&e.url, "utm_medium"))
        && is(&f.utm_campaign, param(&e.url, "utm_campaign"))
        && is(&f.device, Some(e.device.as_str().to_string()))
        && is(&f.browser, e.browser.clone())
        && is(&f.os, e.os.clone())
        && is(&f.country, e.country.clone())
        && f.prop.as_ref().is_none_or(|(k, v)| prop(e, k).as_ref() == Some(v))
}

/// `(value, visitors, count)` per value, largest first, as the report sorts them.
fn top(items: impl Iterator<Item = (String, String)>) -> Vec<Breakdown> {
    let mut m: BTreeMap<String, (HashSet<String>, u64)> = BTreeMap::new();
    for (value, visitor) in items {
        let e = m.entry(value).or_default();
        e.0.insert(visitor);
        e.1 += 1;
    }
    let mut out: Vec<Breakdown> =
        m.into_iter().map(|(value, (v, c))| Breakdown { value, visitors: v.len() as u64, count: c }).collect();
    out.sort_by(|a, b| b.visitors.cmp(&a.visitors).then(b.count.cmp(&a.count)).then(a.value.cmp(&b.value)));
    out
}

/// Bucket starts, computed the plain way: every hour, or every local midnight.
fn bucket_starts(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if to - from <= Duration::hours(48) {
        let local = from.with_timezone(&tz);
        let mut t = from - Duration::seconds(i64::from(local.format("%M").to_string().parse::<u32>().unwrap()) * 60 + from.timestamp() % 60);
        while t < to {
            out.push(t);
            t += Duration::hours(1);
        }
    } else {
        let mut day: NaiveDate = from.with_timezone(&tz).date_naive();
        loop {
            let t = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().with_timezone(&Utc);
            if t >= to {
                break;
            }
            out.push(t);
            day = day.succ_opt().unwrap();
        }
    }
    out
}

/// The whole report, by brute force over `all`.
fn brute(all: &[Event], q: &StatsQuery) -> StatsReport {
    let events: Vec<&Event> = all.iter().filter(|e| e.time >= q.from && e.time < q.to && matches(e, &q.filters)).collect();
    let views: Vec<&&Event> = events.iter().filter(|e| e.kind == "pageview").collect();
    let visitors: HashSet<&str> = events.iter().map(|e| e.visitor_id.as_str()).collect();
    // sessions: per visitor (no session ids here), split at gaps over 30 minutes
    let mut by_visitor: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in &events {
        by_visitor.entry(e.visitor_id.as_str()).or_default().push(e);
    }
    let mut sessions: Vec<Vec<&Event>> = Vec::new();
    for list in by_visitor.values() {
        let mut current: Vec<&Event> = Vec::new();
        for e in list {
            if current.last().is_some_and(|l| e.time - l.time > Duration::minutes(30)) {
                sessions.push(std::mem::take(&mut current));
            }
            current.push(e);
        }
        sessions.push(current);
    }
    let viewed: Vec<&Vec<&Event>> = sessions.iter().filter(|s| s.iter().any(|e| e.kind == "pageview")).collect();
    let n = viewed.len() as f64;
    let bounce = viewed.iter().filter(|s| s.iter().filter(|e| e.kind == "pageview").count() == 1).count() as f64;
    let duration: f64 = viewed.iter().map(|s| (s.last().unwrap().time - s[0].time).num_milliseconds() as f64 / 1000.0).sum();
    let first_view = |s: &Vec<&Event>| s.iter().find(|e| e.kind == "pageview").map(|e| e.pathname.clone()).unwrap();
    let last_view = |s: &Vec<&Event>| s.iter().rev().find(|e| e.kind == "pageview").map(|e| e.pathname.clone()).unwrap();
    let starts = bucket_starts(q.from, q.to, q.tz);
    let series = starts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let end = starts.get(i + 1).copied().unwrap_or(q.to.max(*s));
            let end = if i + 1 == starts.len() { q.to.max(end) } else { end };
            let inside: Vec<&&Event> = events.iter().filter(|e| e.time >= *s && e.time < end).collect();
            pulse::model::SeriesPoint {
                start: s.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                visitors: inside.iter().map(|e| &e.visitor_id).collect::<HashSet<_>>().len() as u64,
                pageviews: inside.iter().filter(|e| e.kind == "pageview").count() as u64,
            }
        })
        .collect();
    let v = |e: &&&Event| e.visitor_id.clone();
    StatsReport {
        visitors: visitors.len() as u64,
        pageviews: views.len() as u64,
        events: (events.len() - views.len()) as u64,
        views_per_visitor: if visitors.is_empty() { 0.0 } else { views.len() as f64 / visitors.len() as f64 },
        interval: if q.to - q.from <= Duration::hours(48) { pulse::model::Interval::Hour } else { pulse::model::Interval::Day },
        bounce_rate: if n == 0.0 { 0.0 } else { bounce / n },
        visit_duration_s: if n == 0.0 { 0.0 } else { duration / n },
        series,
        pages: top(views.iter().map(|e| (e.pathname.clone(), v(e)))),
        entry_pages: top(viewed.iter().map(|s| (first_view(s), s[0].visitor_id.clone()))),
        exit_pages: top(viewed.iter().map(|s| (last_view(s), s[0].visitor_id.clone()))),
        sources: top(views.iter().filter_map(|e| Some((e.source.clone()?, v(e))))),
        utm_mediums: top(views.iter().filter_map(|e| Some((param(&e.url, "utm_medium")?, v(e))))),
        utm_campaigns: top(views.iter().filter_map(|e| Some((param(&e.url, "utm_campaign")?, v(e))))),
        devices: top(views.iter().map(|e| (e.device.as_str().to_string(), v(e)))),
        browsers: top(views.iter().filter_map(|e| Some((e.browser.clone()?, v(e))))),
        os: top(views.iter().filter_map(|e| Some((e.os.clone()?, v(e))))),
        countries: top(views.iter().filter_map(|e| Some((e.country.clone()?, v(e))))),
        event_names: top(events.iter().filter(|e| e.kind != "pageview").map(|e| (e.kind.clone(), e.visitor_id.clone()))),
        props: q.breakdown_prop.as_ref().map(|k| top(events.iter().filter_map(|e| Some((prop(e, k)?, e.visitor_id.clone()))))),
    }
}

fn assert_same(got: &StatsReport, want: &StatsReport, case: &str) {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!((got.visitors, got.pageviews, got.events), (want.visitors, want.pageviews, want.events), "{case}: totals");
    assert!(close(got.views_per_visitor, want.views_per_visitor), "{case}: views per visitor");
    assert!(close(got.bounce_rate, want.bounce_rate), "{case}: bounce {} vs {}", got.bounce_rate, want.bounce_rate);
    assert!(close(got.visit_duration_s, want.visit_duration_s), "{case}: duration {} vs {}", got.visit_duration_s, want.visit_duration_s);
    assert_eq!(got.interval, want.interval, "{case}: interval");
    assert_eq!(got.series, want.series, "{case}: series");
    for (name, a, b) in [
        ("pages", &got.pages, &want.pages),
        ("entry_pages", &got.entry_pages, &want.entry_pages),
        ("exit_pages", &got.exit_pages, &want.exit_pages),
        ("sources", &got.sources, &want.sources),
        ("utm_mediums", &got.utm_mediums, &want.utm_mediums),
        ("utm_campaigns", &got.utm_campaigns, &want.utm_campaigns),
        ("devices", &got.devices, &want.devices),
        ("browsers", &got.browsers, &want.browsers),
        ("os", &got.os, &want.os),
        ("countries", &got.countries, &want.countries),
        ("event_names", &got.event_names, &want.event_names),
    ] {
        assert_eq!(a, b, "{case}: {name}");
    }
    assert_eq!(got.props, want.props, "{case}: props");
}

async fn store_events(ctx: &Ctx, events: &[Event]) {
    let encoded: Vec<EncodedEvent> = events.iter().map(|e| EncodedEvent::new(e.clone()).unwrap().server_made()).collect();
    for chunk in encoded.chunks(2_000) {
        ctx.server.state.events.append(chunk).await.unwrap();
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn every_aggregate_matches_a_brute_force_count_across_days_dst_and_filters() {
    let ctx = setup().await;
    // five weeks around the end of summer time in Berlin (2026-10-25) and New York (2026-11-01)
    let events = generate(&ctx.site, at("2026-10-10T00:00:00Z"), 35, 300, 7);
    store_events(&ctx, &events).await;
    let filters = |pairs: &[(&str, &str)]| {
        let mut f = StatsFilters::default();
        for (k, v) in pairs {
            assert!(f.set(k, v.to_string()));
        }
        f
    };
    type Case<'a> = (&'a str, Tz, DateTime<Utc>, DateTime<Utc>, StatsFilters, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("30 days, Berlin", chrono_tz::Europe::Berlin, at("2026-10-12T00:00:00+02:00"), at("2026-11-11T00:00:00+01:00"), filters(&[]), None),
        ("DST day, Berlin, hourly", chrono_tz::Europe::Berlin, at("2026-10-25T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00"), filters(&[]), None),
        ("a week over New York's change", chrono_tz::America::New_York, at("2026-10-28T00:00:00-04:00"), at("2026-11-04T00:00:00-05:00"), filters(&[]), Some("plan")),
        ("two filters", chrono_tz::Europe::Berlin, at("2026-10-12T00:00:00+02:00"), at("2026-11-11T00:00:00+01:00"), filters(&[("source", "google.com"), ("device", "desktop")]), None),
        ("utm and page", Tz::UTC, at("2026-10-10T00:00:00Z"), at("2026-11-14T00:00:00Z"), filters(&[("utm_medium", "email"), ("pathname", "/pricing")]), None),
        ("campaign with a space", Tz::UTC, at("2026-10-10T00:00:00Z"), at("2026-11-14T00:00:00Z"), filters(&[("utm_campaign", "black friday")]), None),
        ("custom events by property", Tz::UTC, at("2026-10-10T00:00:00Z"), at("2026-11-14T00:00:00Z"), filters(&[("type", "signup"), ("prop", "plan:pro")]), Some("plan")),
        ("browser, os, country", Tz::UTC, at("2026-10-15T06:30:00Z"), at("2026-10-17T06:30:00Z"), filters(&[("browser", "Firefox"), ("os", "Linux"), ("country", "DE")]), None),
        ("nothing matches", Tz::UTC, at("2026-10-10T00:00:00Z"), at("2026-11-14T00:00:00Z"), filters(&[("country", "JP")]), None),
    ];
    for (case, tz, from, to, filters, breakdown) in cases {
        let q = StatsQuery {
            website_id: ctx.site.clone(),
            from,
            to,
            tz,
            filters,
            breakdown_prop: breakdown.map(str::to_string),
            limit: 1000,
            interval: None,
        };
        let got = ctx.server.state.events.stats(&q).await.unwrap();
        assert!(case == "nothing matches" || got.visitors > 0, "{case}: the case sees data");
        assert_same(&got, &brute(&events, &q), case);
    }
}

async fn get(ctx: &Ctx, path_and_query: &str, token: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = ctx.http.get(format!("{}{path_and_query}", ctx.base)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn the_stats_endpoint_answers_the_contract_shape_checks_its_parameters_and_access() {
    let ctx = setup().await;
    let now = Utc::now();
    let mut events = generate(&ctx.site, now - Duration::days(3), 3, 40, 11);
    events.retain(|e| e.time < now);
    store_events(&ctx, &events).await;
    let site = &ctx.site;
    let (status, _, body) = get(&ctx, &format!("/api/websites/{site}/stats?breakdown=prop:plan&type=&pathname="), &ctx.token).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    for key in [
        "visitors", "pageviews", "events", "views_per_visitor", "interval", "bounce_rate", "visit_duration_s", "series", "pages",
        "entry_pages", "exit_pages", "sources", "utm_mediums", "utm_campaigns", "devices", "browsers", "os", "countries",
        "event_names", "props",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {body}");
    }
    assert_eq!(v["interval"], "day", "the default range is the last 7 days");
    assert_eq!(v["series"].as_array().unwrap().len(), 7);
    let first = &v["pages"][0];
    assert!(first["value"].is_string() && first["visitors"].is_u64() && first["count"].is_u64());
    assert!(v["pages"].as_array().unwrap().len() <= 10, "top 10 by default");
    assert_eq!(v["pageviews"].as_u64().unwrap(), events.iter().filter(|e| e.kind == "pageview").count() as u64);

    // dates are the website's days; a short range is hourly
    let (_, _, body) = get(&ctx, &format!("/api/websites/{site}/stats?from={}&to={}", (now - Duration::hours(6)).to_rfc3339().replace('+', "%2B"), now.to_rfc3339().replace('+', "%2B")), &ctx.token).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["interval"], "hour", "{body}");

    for (query, names) in [
        ("from=soon", "`from`"),
        ("from=2026-11-08&to=2026-11-01", "before"),
        ("limit=5000", "`limit`"),
        ("prop=plan", "`prop`"),
        ("breakdown=plan", "`breakdown`"),
        ("colour=red", "`colour`"),
    ] {
        let (status, _, body) = get(&ctx, &format!("/api/websites/{site}/stats?{query}"), &ctx.token).await;
        assert_eq!(status, 400, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "bad_request");
        assert!(v["message"].as_str().unwrap().contains(names), "{query}: {body}");
    }
    let member = member_token(&ctx, "m@test.local").await;
    let (status, _, _) = get(&ctx, &format!("/api/websites/{site}/stats"), &member).await;
    assert_eq!(status, 403);
    let r = ctx.http.get(format!("{}/api/websites/{site}/stats", ctx.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // CSV of any list
    let (status, headers, csv) = get(&ctx, &format!("/api/websites/{site}/stats.csv?list=pages"), &ctx.token).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"pulse-example.com-pages-"));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("value,visitors,pageviews"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5, "every page: {csv}");
    let (status, _, _) = get(&ctx, &format!("/api/websites/{site}/stats.csv?list=nope"), &ctx.token).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn pulse_import_stores_a_file_once_and_names_what_it_rejects() {
    let ctx = setup().await;
    let file = ctx.dir.path().join("history.ndjson");
    let mut lines = Vec::new();
    for i in 0..50 {
        lines.push(format!(
            r#"{{"website_id":"{}","url":"https://example.com/p{}","time":"2026-09-0{}T10:00:00Z","visitor_id":"v{}","user_agent":"{CHROME}"}}"#,
            ctx.site,
            i % 5,
            1 + i % 9,
            i % 7
        ));
    }
    lines.push(r#"{"url":"https://example.com/with-id","time":"2026-09-02T11:00:00Z","event_id":"0190a6c5-7f00-7000-8000-000000000001"}"#.to_string());
    lines.push(r#"{"url":"https://example.com/no-time"}"#.into());
    lines.push(r#"{"url":"https://elsewhere.example/x","time":"2026-09-02T11:00:00Z"}"#.into());
    lines.push("not json".into());
    lines.push(r#"{"url":"https://example.com/future","time":"2099-01-01T00:00:00Z"}"#.into());
    std::fs::write(&file, lines.join("\n")).unwrap();

    let run = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"));
        cmd.args(["import", "--website", &ctx.site]).arg(&file);
        store_env(&mut cmd, ctx.dir.path());
        cmd.output().unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("stored 51 events, 0 already present (same event_id), 4 lines rejected"), "{text}");
    assert!(text.contains("line 52: field `time`: required"), "{text}");
    assert!(text.contains("line 53: field `url`: host \"elsewhere.example\""), "{text}");
    assert!(text.contains("line 54: not a JSON object"), "{text}");
    assert!(text.contains("line 55: field `time`:") && text.contains("in the future"), "{text}");
    let again = run();
    let text = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(text.starts_with("stored 0 events, 51 already present"), "idempotent: {text}");

    // the server (same data directory) reports them
    let (status, _, body) = get(&ctx, &format!("/api/websites/{}/stats?from=2026-09-01&to=2026-09-11", ctx.site), &ctx.token).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["pageviews"], 51, "{body}");
    assert_eq!(v["visitors"], 8, "7 visitor ids and one line without: {body}");
    assert_eq!(v["browsers"][0]["value"], "Chrome", "the user agent was read: {body}");
}
