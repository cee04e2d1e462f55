//! Pulse benchmarks, each figure printed beside a baseline measured in the same run:
//!
//! * ingest: durable events/s through `POST /api/track`, against a bare axum handler that
//!   answers `204` (same client, same body, same concurrency);
//! * live latency: track → WebSocket delivery p50/p99 with N subscribers at R events/s, against
//!   a minimal server that forwards each POST body to its WebSockets through a tokio
//!   `broadcast` channel; a rate sweep finds the highest rate that keeps p99 under 100 ms;
//! * memory: server RSS per idle connection, WebSocket and SSE, opened one by one and 200 at
//!   a time (a reconnect storm after a restart), against bare axum servers;
//! * scylla: the ScyllaDB backend on a real Cassandra 5.0 node (started here with
//!   `scripts/cassandra.sh`): ingest events/s and track→live p99 on it beside the embedded
//!   store, against a bare `scylla`-crate insert loop on the same node (the ceiling), and a
//!   30-day report over imported history on both stores;
//! * analytics: 1,000,000 events over 90 days for 5 websites, loaded with `pulse import`;
//!   a 30-day report with two filters and a raw-events page through the REST API, against a
//!   brute-force full scan of the same database (no index, filters and counts in Rust).
//!
//! Both servers run as separate processes (Pulse is the release binary; the baseline is this
//! binary re-executed with `--baseline-server PORT`); the load generator shares the machine.
//! Run: `scripts/bench.sh` (or `cargo bench --features ssr --bench pulse_bench`).
//! Knobs: `BENCH_SECS` (per measurement, default 5), `BENCH_SUBSCRIBERS` (default 1000),
//! `BENCH_LINGER_MS` (the writer's group-commit linger; default: Pulse's own default),
//! `BENCH_ONLY` (comma-separated subset of `memory,ingest,latency,analytics,scylla`; default: all),
//! `BENCH_SCYLLA_EVENTS` (history of the scylla part's report, default 200,000),
//! `BENCH_EVENTS` (events of the analytics part, default 1,000,000),
//! `BENCH_ROUNDS` (alternating baseline/Pulse ingest rounds, default 5).

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

fn secs() -> u64 {
    std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5)
}

/// Whether the part `name` runs (see `BENCH_ONLY`).
fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == name))
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--baseline-server") {
        let port: u16 = args.get(i + 1).and_then(|p| p.parse().ok()).expect("port");
        baseline::serve(port);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run());
}

// ---------------------------------------------------------------------------------------------
// processes

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

async fn wait_up(base: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not come up");
}

fn pulse_cmd(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pulse"));
    c.env("PULSE_DATA_DIR", dir).env("PULSE_CONFIG", dir.join("bench.toml")).env("RUST_LOG", "warn");
    c
}

/// Starts Pulse with bench settings (no per-IP limit) and one admin + website.
async fn start_pulse(dir: &std::path::Path) -> (Proc, String, String) {
    start_pulse_on(dir, "").await
}

/// `start_pulse` with a `[pulse.store]` table (`store`: its TOML lines; empty: SQLite).
async fn start_pulse_on(dir: &std::path::Path, store: &str) -> (Proc, String, String) {
    // BENCH_LINGER_MS overrides the writer's linger, to compare group-commit settings
    let linger = std::env::var("BENCH_LINGER_MS").map(|v| format!("batch_linger_ms = {v}\n")).unwrap_or_default();
    std::fs::write(
        dir.join("bench.toml"),
        format!(
            "[pulse]\ndemo = false\n[pulse.ingest]\nrate_per_ip = 10000000\nburst_per_ip = 10000000\nrate_per_website = 10000000\nburst_per_website = 10000000\n{linger}\
             [pulse.live]\nmax_connections_per_user = 100000\nmax_connections_per_ip = 100000\n\
             [pulse.store]\n{store}"
        ),
    )
    .expect("config");
    let ok = pulse_cmd(dir)
        .args(["user", "add", "--email", "bench@pulse.local", "--password", "bench-password", "--admin"])
        .stdout(Stdio::null())
        .status()
        .expect("pulse user add");
    assert!(ok.success());
    let out = pulse_cmd(dir).args(["site", "add", "--domain", "bench.example"]).output().expect("pulse site add");
    let site = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
    let port = free_port();
    let child = pulse_cmd(dir)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("pulse serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let token = bench_login(&base).await;
    (Proc { child, base }, site, token)
}

/// The bench admin's access token.
async fn bench_login(base: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "bench@pulse.local", "password": "bench-password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    answer["token"].as_str().expect("token").to_string()
}

async fn start_baseline() -> Proc {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--baseline-server", &port.to_string()])
        .spawn()
        .expect("baseline server");
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    Proc { child, base }
}

// ---------------------------------------------------------------------------------------------
// ingest throughput

/// Requests/s of `concurrency` clients posting `body` to `url` for `secs`; all must be `expect`.
async fn load(url: String, body: String, concurrency: usize, secs: u64, expect: u16) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let done = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body, done, bad) = (client.clone(), url.clone(), body.clone(), done.clone(), bad.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let r = client
                        .post(&url)
                        .header("content-type", "text/plain")
                        .header("user-agent", CHROME)
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == expect => done.fetch_add(1, Ordering::Relaxed),
                        _ => bad.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bad = bad.load(Ordering::Relaxed);
    if bad > 0 {
        println!("    ({bad} requests did not answer {expect})");
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

// ---------------------------------------------------------------------------------------------
// live latency

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Finds the `"t":<micros>` stamp the driver put into an event (snapshots, which repeat old
/// events, are not deliveries).
fn stamp(text: &str) -> Option<u64> {
    if text.starts_with(r#"{"type":"snapshot""#) {
        return None;
    }
    let at = text.find("\"t\":")? + 4;
    let digits: String = text[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

struct LatencyRun {
    p50_ms: f64,
    p99_ms: f64,
    delivered: usize,
    expected: usize,
}

/// `subscribers` WebSockets on `ws_url` (each sends `subscribe` first if given), then `rate`
/// events/s for `secs` posted to `track_url` with a send-time stamp; latency = receive − send.
async fn latency(
    ws_url: &str,
    subscribe: Option<String>,
    track_url: &str,
    body: impl Fn(u64) -> String,
    subscribers: usize,
    rate: u64,
    secs: u64,
) -> LatencyRun {
    let clock = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut subs = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (ws_url, subscribe, ready_tx, mut stop) = (ws_url.to_string(), subscribe.clone(), ready_tx.clone(), stop.clone());
        subs.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws connect");
            if let Some(cmd) = subscribe {
                ws.send(Message::Text(cmd.into())).await.expect("subscribe");
            }
            let _ = ready_tx.send(()).await;
            let mut samples = Vec::new();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    m = ws.next() => match m {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(sent) = stamp(&t) {
                                let now = clock.elapsed().as_micros() as u64;
                                samples.push(now.saturating_sub(sent) as f64 / 1000.0);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
            samples
        }));
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.expect("subscriber ready");
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // snapshots delivered
    let client = reqwest::Client::new();
    let total = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut posts = Vec::with_capacity(total as usize);
    for _ in 0..total {
        tick.tick().await;
        let t = clock.elapsed().as_micros() as u64;
        let req = client.post(track_url).header("user-agent", CHROME).header("content-type", "text/plain").body(body(t));
        posts.push(tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) }));
    }
    for p in posts {
        let _ = p.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // let the tail arrive
    let _ = stop_tx.send(true);
    let mut all = Vec::new();
    for s in subs {
        all.extend(s.await.unwrap_or_default());
    }
    all.sort_by(|a, b| a.total_cmp(b));
    LatencyRun {
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        delivered: all.len(),
        expected: (total as usize) * subscribers,
    }
}

async fn pulse_latency(p: &Proc, site: &str, token: &str, subscribers: usize, rate: u64) -> LatencyRun {
    let ws_url = format!("{}/api/live/ws?access_token={token}", p.base.replace("http", "ws"));
    let sub = json!({"type": "subscribe", "website_id": site}).to_string();
    let site = site.to_string();
    latency(
        &ws_url,
        Some(sub),
        &format!("{}/api/track", p.base),
        move |t| json!({"website_id": site, "url": "https://bench.example/live", "props": {"t": t}}).to_string(),
        subscribers,
        rate,
        secs(),
    )
    .await
}

async fn baseline_latency(b: &Proc, subscribers: usize, rate: u64) -> LatencyRun {
    latency(
        &format!("{}/ws", b.base.replace("http", "ws")),
        None,
        &format!("{}/publish", b.base),
        |t| json!({"url": "https://bench.example/live", "props": {"t": t}}).to_string(),
        subscribers,
        rate,
        secs(),
    )
    .await
}

fn show(label: &str, r: &LatencyRun) {
    println!(
        "  {label:<34} p50 {:>7.2} ms   p99 {:>7.2} ms   delivered {}/{}",
        r.p50_ms, r.p99_ms, r.delivered, r.expected
    );
}

// ---------------------------------------------------------------------------------------------
// memory per idle connection

/// RSS delta per connection after opening `n` WebSockets, `wave` at a time (1: one by one;
/// 200: a reconnect storm), each sending `subscribe` and reading its snapshot first when given.
/// `pulse_protocol`: check afterwards that they still answer.
async fn idle_ws(p: &Proc, url: &str, subscribe: Option<String>, n: usize, wave: usize, pulse_protocol: bool) -> f64 {
    let before = p.rss_kib();
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = wave.min(n - conns.len());
        let opened = futures::future::join_all((0..batch).map(|_| async {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
            if let Some(cmd) = &subscribe {
                ws.send(Message::Text(cmd.clone().into())).await.expect("subscribe");
                let _ = ws.next().await; // snapshot
            }
            ws
        }))
        .await;
        conns.extend(opened);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = p.rss_kib();
    if pulse_protocol {
        // the figure only means something if the connections are open and served
        for ws in conns.iter_mut().step_by(n / 10) {
            ws.send(Message::Text(r#"{"type":"ping"}"#.into())).await.expect("ping");
            loop {
                let msg = ws.next().await.expect("connection open").expect("frame");
                if msg.to_text().is_ok_and(|t| t.contains(r#""type":"pong""#)) {
                    break;
                }
            }
        }
    }
    drop(conns);
    (after.saturating_sub(before)) as f64 / n as f64
}

/// The same for SSE streams: each reads its first message (Pulse: the snapshot) and is held.
async fn idle_sse(p: &Proc, url: &str, auth: Option<&str>, n: usize, wave: usize) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let before = p.rss_kib();
    let mut streams = Vec::with_capacity(n);
    while streams.len() < n {
        let batch = wave.min(n - streams.len());
        let opened = futures::future::join_all((0..batch).map(|_| async {
            let mut req = client.get(url).header("accept", "text/event-stream");
            if let Some(token) = auth {
                req = req.bearer_auth(token);
            }
            let resp = req.send().await.expect("sse connect");
            assert!(resp.status().is_success(), "sse status {}", resp.status());
            let mut body = resp.bytes_stream();
            if auth.is_some() {
                let _ = body.next().await; // the snapshot
            }
            body
        }))
        .await;
        streams.extend(opened);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = p.rss_kib();
    drop(streams);
    (after.saturating_sub(before)) as f64 / n as f64
}

// ---------------------------------------------------------------------------------------------

async fn run() {
    let secs = secs();
    let subscribers: usize = std::env::var("BENCH_SUBSCRIBERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("Pulse benchmarks — {cores} cores, {secs} s per measurement, load generator on the same machine\n");

    let dir = tempfile::tempdir().expect("tempdir");
    let (pulse, site, token) = start_pulse(dir.path()).await;
    let baseline = start_baseline().await;

    if wanted("memory") {
        memory().await;
    }
    if wanted("ingest") {
        ingest(&pulse, &baseline, &site, secs).await;
    }
    if wanted("latency") {
        latency_sweep(&pulse, &baseline, &site, &token, subscribers).await;
    }
    drop((pulse, baseline));
    if wanted("analytics") {
        analytics().await;
    }
    if wanted("scylla") {
        scylla::run(secs).await;
    }
}

// ---------------------------------------------------------------------------------------------
// analytics

/// Median of `runs` timings of `f`, in ms.
async fn median_ms<F, Fut>(runs: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// NDJSON history for one website: `n` events over `days` days before `end`, visits of a few
/// pageviews, sometimes a custom event.
fn history_file(path: &std::path::Path, n: usize, days: i64, end: chrono::DateTime<chrono::Utc>, seed: u64) {
    use std::io::Write;
    let uas = [
        CHROME,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
    ];
    let refs = ["https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", "https://duckduckgo.com/", ""];
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("history file"));
    let start = end - chrono::Duration::days(days);
    let span_ms = (days * 86_400_000) as u64;
    let mut written = 0;
    while written < n {
        let visitor = rnd() % 50_000;
        let mut t = start + chrono::Duration::milliseconds((rnd() % span_ms) as i64);
        let ua = uas[(rnd() % uas.len() as u64) as usize];
        let referrer = refs[(rnd() % refs.len() as u64) as usize];
        for i in 0..(1 + rnd() % 4) {
            if written == n {
                break;
            }
            let page = rnd() % 60;
            let kind = if rnd() % 10 == 0 { "signup" } else { "pageview" };
            let line = json!({
                "type": kind, "url": format!("https://bench.example/page/{page}"), "time": t.to_rfc3339(),
                "visitor_id": format!("v{visitor}"), "user_agent": ua,
                "referrer": if i == 0 { referrer } else { "" },
            });
            writeln!(out, "{line}").expect("write");
            written += 1;
            t += chrono::Duration::seconds((20 + rnd() % 300) as i64);
        }
    }
}

/// The baseline: every row of the database read and matched in Rust (no index, no SQL
/// filter), counting visitors, pageviews and top pages — what a report costs without the
/// store's work.
fn brute_force_report(db: &std::path::Path, site: &str, from_ms: i64, to_ms: i64) -> (usize, u64) {
    use std::collections::{HashMap, HashSet};
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open db");
    let mut stmt = conn
        .prepare("SELECT website_id, time_ms, kind, pathname, source, visitor_id, device FROM events NOT INDEXED")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let (mut visitors, mut pageviews, mut pages) = (HashSet::new(), 0u64, HashMap::<String, u64>::new());
    while let Some(r) = rows.next().expect("row") {
        let (w, t, kind): (String, i64, String) = (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
        let (source, device): (Option<String>, String) = (r.get(4).unwrap(), r.get(6).unwrap());
        if w != site || t < from_ms || t >= to_ms || device != "desktop" || source.as_deref() != Some("google.com") {
            continue;
        }
        visitors.insert(r.get::<_, String>(5).unwrap());
        if kind == "pageview" {
            pageviews += 1;
            *pages.entry(r.get(3).unwrap()).or_default() += 1;
        }
    }
    (visitors.len(), pageviews)
}

/// The baseline raw page: every event of the website read, sorted by time, the newest 50 kept.
fn brute_force_page(db: &std::path::Path, site: &str, from_ms: i64, to_ms: i64) -> usize {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open db");
    let mut stmt = conn.prepare("SELECT time_ms, seq, pathname, visitor_id FROM events NOT INDEXED WHERE website_id = ?1").expect("prepare");
    let mut all: Vec<(i64, i64, String, String)> = stmt
        .query_map([site], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .filter_map(Result::ok)
        .filter(|(t, ..)| *t >= from_ms && *t < to_ms)
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    all.truncate(50);
    all.len()
}

async fn analytics() {
    let total: usize = std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let (sites_n, days) = (5usize, 90i64);
    println!("\nanalytics ({total} events over {days} days, {sites_n} websites, loaded with `pulse import`)");
    let dir = tempfile::tempdir().expect("tempdir");
    let (pulse, first_site, _) = start_pulse(dir.path()).await;
    drop(pulse); // imports write the database while no server holds it busy
    let mut sites = vec![first_site];
    for _ in 1..sites_n {
        let out = pulse_cmd(dir.path()).args(["site", "add", "--domain", "bench.example"]).output().expect("site add");
        sites.push(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string());
    }
    let end = chrono::Utc::now() - chrono::Duration::hours(1);
    let started = Instant::now();
    for (i, site) in sites.iter().enumerate() {
        let file = dir.path().join(format!("history-{i}.ndjson"));
        history_file(&file, total / sites_n, days, end, 7 + i as u64);
        let out = pulse_cmd(dir.path()).args(["import", "--website", site]).arg(&file).output().expect("import");
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(summary.starts_with(&format!("stored {} events", total / sites_n)), "{summary}");
        let _ = std::fs::remove_file(&file);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("  generated and imported in {secs:.0} s ({:.0} events/s, generation included)", total as f64 / secs);

    let port = free_port();
    let child = pulse_cmd(dir.path()).args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).spawn().expect("serve");
    let p = Proc { child, base: format!("http://127.0.0.1:{port}") };
    wait_up(&p.base).await;
    let token = bench_login(&p.base).await;
    let client = reqwest::Client::new();
    let site = sites[0].clone();
    let (from, to) = (end - chrono::Duration::days(30), end);
    let enc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339().replace('+', "%2B");
    let stats_url = format!("{}/api/websites/{site}/stats?from={}&to={}&device=desktop&source=google.com", p.base, enc(from), enc(to));
    let all_url = format!("{}/api/websites/{site}/stats?from={}&to={}", p.base, enc(from), enc(to));
    let pulse_all = median_ms(5, || async {
        let r = client.get(&all_url).bearer_auth(&token).send().await.expect("stats");
        assert!(r.status().is_success());
        let _ = r.bytes().await;
    })
    .await;
    let page_url = format!("{}/api/realtime/events/{site}/range?from={}&to={}&limit=50", p.base, enc(from), enc(to));
    let report: Value = client.get(&stats_url).bearer_auth(&token).send().await.expect("stats").json().await.expect("json");
    let pulse_report = median_ms(5, || async {
        let r = client.get(&stats_url).bearer_auth(&token).send().await.expect("stats");
        assert!(r.status().is_success());
        let _ = r.bytes().await;
    })
    .await;
    let pulse_page = median_ms(21, || async {
        let r = client.get(&page_url).bearer_auth(&token).send().await.expect("page");
        assert!(r.status().is_success());
        let _ = r.bytes().await;
    })
    .await;
    let db = dir.path().join("pulse.db");
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let mut check = (0, 0);
    let base_report = median_ms(3, || {
        check = brute_force_report(&db, &site, from_ms, to_ms);
        async {}
    })
    .await;
    let base_page = median_ms(3, || {
        assert_eq!(brute_force_page(&db, &site, from_ms, to_ms), 50);
        async {}
    })
    .await;
    assert_eq!(
        (report["visitors"].as_u64().unwrap_or(0) as usize, report["pageviews"].as_u64().unwrap_or(0)),
        check,
        "the report and the brute force agree"
    );
    println!(
        "  30-day report, two filters (device, source): baseline full scan {base_report:>7.1} ms   pulse {pulse_report:>6.1} ms   (target ≤ 300 ms; {} visitors, {} pageviews matched)",
        check.0, check.1
    );
    println!("  30-day report, no filter (every event of the range):                  pulse {pulse_all:>6.1} ms");
    println!("  raw events page (50 newest of 30 days):       baseline full scan {base_page:>7.1} ms   pulse {pulse_page:>6.1} ms   (target ≤ 50 ms)");
}

/// A fresh Pulse whose website has a realistic snapshot (100 recent events).
async fn pulse_with_history() -> (Proc, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pulse, site, token) = start_pulse(dir.path()).await;
    let client = reqwest::Client::new();
    for i in 0..100 {
        let body = json!({"website_id": site, "url": format!("https://bench.example/page/{i}"), "props": {"plan": "pro"}});
        client.post(format!("{}/api/track", pulse.base)).header("user-agent", CHROME).json(&body).send().await.expect("seed");
    }
    (pulse, site, token, dir)
}

async fn memory() {
    let n = 2_000;
    println!("memory per idle connection ({n} connections, a fresh server process per figure, RSS delta)");
    println!("  {:<44}{:>14}{:>16}", "", "one at a time", "200 at a time");
    let ws_url = |base: &str, token: &str| format!("{}/api/live/ws?access_token={token}", base.replace("http", "ws"));
    let mut rows: Vec<(&str, [f64; 2])> = Vec::new();
    let mut row = [0.0; 2];
    for (i, wave) in [1, 200].into_iter().enumerate() {
        let b = start_baseline().await;
        row[i] = idle_ws(&b, &format!("{}/ws", b.base.replace("http", "ws")), None, n, wave, false).await;
    }
    rows.push(("baseline WebSocket (axum + tokio broadcast)", row));
    for (i, wave) in [1, 200].into_iter().enumerate() {
        let (p, site, token, _dir) = pulse_with_history().await;
        let sub = json!({"type": "subscribe", "website_id": site}).to_string();
        row[i] = idle_ws(&p, &ws_url(&p.base, &token), Some(sub), n, wave, true).await;
    }
    rows.push(("pulse WebSocket (authenticated, subscribed)", row));
    for (i, wave) in [1, 200].into_iter().enumerate() {
        let (p, _site, token, _dir) = pulse_with_history().await;
        row[i] = idle_ws(&p, &ws_url(&p.base, &token), None, n, wave, true).await;
    }
    rows.push(("pulse WebSocket (authenticated, no subscription)", row));
    for (i, wave) in [1, 200].into_iter().enumerate() {
        let b = start_baseline().await;
        row[i] = idle_sse(&b, &format!("{}/sse", b.base), None, n, wave).await;
    }
    rows.push(("baseline SSE (axum Sse + tokio broadcast)", row));
    for (i, wave) in [1, 200].into_iter().enumerate() {
        let (p, site, token, _dir) = pulse_with_history().await;
        row[i] = idle_sse(&p, &format!("{}/api/live/sse?website_id={site}", p.base), Some(&token), n, wave).await;
    }
    rows.push(("pulse SSE (authenticated, subscribed)", row));
    for (label, [one, storm]) in rows {
        println!("  {label:<44}{one:>10.1} KiB{storm:>12.1} KiB");
    }
    println!();
}

/// Middle value (rounds are few and odd).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn ingest(pulse: &Proc, baseline: &Proc, site: &str, secs: u64) {
    let body = json!({"website_id": site, "url": "https://bench.example/pricing?utm_source=bench", "referrer": "https://www.google.com/"}).to_string();
    // the machine is shared and noisy: baseline and Pulse alternate, and medians are compared
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    for clients in [64, 512] {
        println!("ingest ({clients} concurrent keep-alive clients, one event per request, {rounds} alternating rounds)");
        let (mut base, mut pulse_runs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            base.push(load(format!("{}/track", baseline.base), body.clone(), clients, secs, 204).await);
            pulse_runs.push(load(format!("{}/api/track", pulse.base), body.clone(), clients, secs, 202).await);
        }
        let show = |v: &[f64]| v.iter().map(|x| format!("{:.0}", x / 1000.0)).collect::<Vec<_>>().join("/");
        let (b, p) = (median(base.clone()), median(pulse_runs.clone()));
        // each Pulse round against the baseline round just before it: the machine's speed
        // drifts between phases, and a pair taken seconds apart shares the phase
        let pairs: Vec<f64> = pulse_runs.iter().zip(&base).map(|(p, b)| p / b).collect();
        let pair_list = pairs.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join("/");
        println!("  baseline: bare axum handler → 204    {b:>9.0} req/s     (rounds, k: {})", show(&base));
        println!("  pulse: durable events (202)          {p:>9.0} events/s  (rounds, k: {})", show(&pulse_runs));
        println!("  ratio of medians                     {:>9.2}×", p / b);
        println!("  median of paired ratios              {:>9.2}×    (rounds: {pair_list})\n", median(pairs));
    }
}

async fn latency_sweep(pulse: &Proc, baseline: &Proc, site: &str, token: &str, subscribers: usize) {
    println!("live latency, track → WebSocket, {subscribers} subscribers on one website");
    let b = baseline_latency(baseline, subscribers, 20).await;
    show("baseline (tokio broadcast) 20 ev/s", &b);
    let p = pulse_latency(pulse, site, token, subscribers, 20).await;
    show("pulse 20 ev/s", &p);
    println!("  rate sweep (highest rate with p99 < 100 ms):");
    let mut best = (0, 0);
    for rate in [50u64, 100, 200, 400, 800] {
        let b = baseline_latency(baseline, subscribers, rate).await;
        let p = pulse_latency(pulse, site, token, subscribers, rate).await;
        show(&format!("baseline {rate} ev/s"), &b);
        show(&format!("pulse    {rate} ev/s"), &p);
        let ok = |r: &LatencyRun| r.p99_ms < 100.0 && r.delivered * 100 >= r.expected * 99;
        if ok(&b) {
            best.0 = rate;
        }
        if ok(&p) {
            best.1 = rate;
        } else {
            break;
        }
    }
    println!("  highest rate with p99 < 100 ms: baseline ≥ {} ev/s, pulse {} ev/s ({} deliveries/s)\n", best.0, best.1, best.1 as usize * subscribers);

}

// ---------------------------------------------------------------------------------------------

mod baseline {
    //! The minimal servers Pulse is measured against.
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::response::Response;
    use futures::StreamExt;
    use tokio_stream::wrappers::BroadcastStream;
    use axum::routing::{get, post};
    use axum::serve::ListenerExt;
    use axum::Router;
    use tokio::sync::broadcast;

    pub fn serve(port: u16) {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let (tx, _) = broadcast::channel::<String>(4096);
            let app = Router::new()
                .route("/health", get(|| async { StatusCode::OK }))
                .route("/track", post(|| async { StatusCode::NO_CONTENT }))
                .route("/publish", post(publish))
                .route("/ws", get(ws))
                .route("/sse", get(sse))
                .with_state(tx);
            // TCP_NODELAY, as Pulse sets it: the comparison is about the server, not Nagle
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind").tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await.expect("serve");
        });
    }

    async fn publish(State(tx): State<broadcast::Sender<String>>, body: String) -> StatusCode {
        let _ = tx.send(body);
        StatusCode::NO_CONTENT
    }

    async fn sse(
        State(tx): State<broadcast::Sender<String>>,
    ) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
        let stream = BroadcastStream::new(tx.subscribe())
            .filter_map(|m| async move { m.ok().map(|data| Ok(Event::default().data(data))) });
        Sse::new(stream).keep_alive(KeepAlive::default())
    }

    async fn ws(State(tx): State<broadcast::Sender<String>>, up: WebSocketUpgrade) -> Response {
        let mut rx = tx.subscribe();
        up.on_upgrade(move |mut socket: WebSocket| async move {
            while let Ok(msg) = rx.recv().await {
                if socket.send(Message::Text(msg.into())).await.is_err() {
                    break;
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// the ScyllaDB backend

mod scylla {
    use super::*;

    /// A Cassandra node in a temp dir, stopped when dropped.
    struct Node {
        dir: tempfile::TempDir,
        addr: String,
    }

    impl Node {
        fn start() -> Node {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let ok = Command::new("bash")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra.sh"))
                .args(["start", dir.path().to_str().expect("utf-8 path"), &port.to_string()])
                .status()
                .expect("scripts/cassandra.sh");
            assert!(ok.success(), "the Cassandra node did not start");
            Node { dir, addr: format!("127.0.0.1:{port}") }
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra.sh"))
                .args(["stop", self.dir.path().to_str().unwrap_or_default()])
                .status();
        }
    }

    impl Node {
        /// The node's JVM process id (written by `scripts/cassandra.sh`).
        fn pid(&self) -> u32 {
            std::fs::read_to_string(self.dir.path().join("pid")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        }
    }

    /// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
    fn cpu_secs(pid: &str) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // the fields after the command name (which may hold spaces) end with `)`
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name; the
        // kernel counts them in USER_HZ, 100 on Linux
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Where the CPU of one phase went: the node, Pulse (0 in the ceiling) and this process
    /// (the load generator, or the bare loop's driver).
    struct Cpu {
        node: f64,
        pulse: f64,
        generator: f64,
    }

    /// Waits (up to 60 s) until the node is idle — below a tenth of a core over half a second
    /// — so a phase does not pay for the flushes and compactions the previous one left.
    async fn quiesce(node: &Node) {
        let pid = node.pid().to_string();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let before = cpu_secs(&pid);
            tokio::time::sleep(Duration::from_millis(500)).await;
            if (cpu_secs(&pid) - before) / 0.5 < 0.1 {
                return;
            }
        }
    }

    /// Runs one phase on an idle node: its rate, and the CPU each item cost.
    async fn measured<F: std::future::Future<Output = f64>>(node: &Node, pulse: Option<&Proc>, phase: F) -> (f64, Cpu) {
        quiesce(node).await;
        let (node_pid, pulse_pid) = (node.pid().to_string(), pulse.map(|p| p.child.id().to_string()));
        let take = || Cpu {
            node: cpu_secs(&node_pid),
            pulse: pulse_pid.as_deref().map_or(0.0, cpu_secs),
            generator: cpu_secs("self"),
        };
        let (before, started) = (take(), Instant::now());
        let rate = phase.await;
        let (after, secs) = (take(), started.elapsed().as_secs_f64());
        // CPU per item, in microseconds
        let per = |a: f64, b: f64| (a - b) * 1e6 / (rate * secs).max(1.0);
        (rate, Cpu { node: per(after.node, before.node), pulse: per(after.pulse, before.pulse), generator: per(after.generator, before.generator) })
    }

    fn store_toml(node: &Node, keyspace: &str) -> String {
        format!("backend = \"scylla\"\nnodes = [\"{}\"]\nkeyspace = \"{keyspace}\"\nconsistency = \"one\"\n", node.addr)
    }

    /// The ceiling: the `scylla` crate alone inserting one row per event (the events table's
    /// shape and size) with 256 requests in flight for `secs`; rows/s.
    async fn bare_insert_loop(node: &Node, secs: u64) -> f64 {
        use ::scylla::client::session_builder::SessionBuilder;
        let session = SessionBuilder::new().known_node(&node.addr).build().await.expect("session");
        session
            .query_unpaged(
                "CREATE KEYSPACE IF NOT EXISTS bare WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                (),
            )
            .await
            .expect("keyspace");
        session
            .query_unpaged(
                "CREATE TABLE IF NOT EXISTS bare.events (website_id text, bucket bigint, time timestamp, id uuid, \
                 pathname text, url text, referrer text, visitor_id text, device text, browser text, os text, \
                 PRIMARY KEY ((website_id, bucket), time, id))",
                (),
            )
            .await
            .expect("table");
        let insert = session
            .prepare(
                "INSERT INTO bare.events (website_id, bucket, time, id, pathname, url, referrer, visitor_id, device, browser, os) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await
            .expect("prepare");
        let session = Arc::new(session);
        let done = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = (0..256)
            .map(|_| {
                let (session, insert, done) = (session.clone(), insert.clone(), done.clone());
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let now = chrono::Utc::now();
                        let row = (
                            "bench-site",
                            now.timestamp_millis() / 3_600_000,
                            now,
                            uuid::Uuid::now_v7(),
                            "/pricing",
                            "https://bench.example/pricing?utm_source=bench",
                            "https://www.google.com/",
                            "f3b2c1d0e9a8b7c6d5e4f3a2b1c0d9e8",
                            "desktop",
                            "Chrome",
                            "Linux",
                        );
                        if session.execute_unpaged(&insert, row).await.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    }

    /// Median ms of a 30-day report with two filters, over `n` imported events of one website.
    async fn report_ms(dir: &std::path::Path, store: &str, n: usize) -> (f64, f64, u64) {
        let (pulse, site, _) = start_pulse_on(dir, store).await;
        drop(pulse);
        let end = chrono::Utc::now() - chrono::Duration::hours(1);
        let file = dir.join("history.ndjson");
        history_file(&file, n, 90, end, 11);
        let started = Instant::now();
        let out = pulse_cmd(dir).args(["import", "--website", &site]).arg(&file).output().expect("import");
        let import_rate = n as f64 / started.elapsed().as_secs_f64();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("stored {n} events")), "{}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let child = pulse_cmd(dir).args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).spawn().expect("serve");
        let p = Proc { child, base: format!("http://127.0.0.1:{port}") };
        wait_up(&p.base).await;
        let token = bench_login(&p.base).await;
        let enc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339().replace('+', "%2B");
        let url = format!(
            "{}/api/websites/{site}/stats?from={}&to={}&device=desktop&source=google.com",
            p.base,
            enc(end - chrono::Duration::days(30)),
            enc(end)
        );
        let client = reqwest::Client::new();
        let report: Value = client.get(&url).bearer_auth(&token).send().await.expect("stats").json().await.expect("json");
        let ms = median_ms(5, || async {
            let r = client.get(&url).bearer_auth(&token).send().await.expect("stats");
            assert!(r.status().is_success());
            let _ = r.bytes().await;
        })
        .await;
        (ms, import_rate, report["pageviews"].as_u64().unwrap_or(0))
    }

    pub async fn run(secs: u64) {
        println!("\nScyllaDB backend (one Apache Cassandra 5.0 node on this machine, consistency ONE)");
        let node = Node::start();
        let body = |site: &str| json!({"website_id": site, "url": "https://bench.example/pricing?utm_source=bench", "referrer": "https://www.google.com/"}).to_string();
        // the VM's speed drifts between phases: ceiling and Pulse alternate, and each Pulse
        // figure is compared with the ceiling round taken just before it; each phase starts
        // on an idle node (the ceiling's million rows leave the node flushing and compacting
        // for a while, which would otherwise land on the Pulse round after it)
        let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
        let dir = tempfile::tempdir().expect("tempdir");
        let (p, site, token) = start_pulse_on(dir.path(), &store_toml(&node, "bench_ingest")).await;
        // a warm-up of both, not counted: a fresh node's JVM runs the first seconds ~3× slower
        bare_insert_loop(&node, secs).await;
        load(format!("{}/api/track", p.base), body(&site), 64, secs, 202).await;
        let (mut ceilings, mut at64, mut at256) = (Vec::new(), Vec::new(), Vec::new());
        // CPU µs per row (ceiling) and per event (Pulse), per round
        let (mut c_cpu, mut p64_cpu, mut p256_cpu) = (Vec::new(), Vec::new(), Vec::new());
        let url = format!("{}/api/track", p.base);
        for _ in 0..rounds {
            let (c, cpu) = measured(&node, None, bare_insert_loop(&node, secs)).await;
            ceilings.push(c);
            c_cpu.push(cpu);
            let (r, cpu) = measured(&node, Some(&p), load(url.clone(), body(&site), 64, secs, 202)).await;
            at64.push((r, r / c));
            p64_cpu.push(cpu);
            let (r, cpu) = measured(&node, Some(&p), load(url.clone(), body(&site), 256, secs, 202)).await;
            at256.push((r, r / c));
            p256_cpu.push(cpu);
        }
        let list = |v: &[f64], scale: f64| v.iter().map(|x| format!("{:.2}", x / scale)).collect::<Vec<_>>().join("/");
        let median_of = |cpus: &[Cpu], f: fn(&Cpu) -> f64| median(cpus.iter().map(f).collect());
        let node_per_row = median_of(&c_cpu, |c| c.node);
        println!(
            "  ceiling: bare `scylla` insert loop, 256 in flight   {:>9.0} rows/s (rounds, k: {}); node CPU {:.1} µs/row, driver {:.1} µs/row",
            median(ceilings.clone()),
            list(&ceilings, 1000.0),
            node_per_row,
            median_of(&c_cpu, |c| c.generator),
        );
        for (clients, runs, cpus) in [(64, &at64, &p64_cpu), (256, &at256, &p256_cpu)] {
            let rates: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let ratios: Vec<f64> = runs.iter().map(|r| r.1).collect();
            println!(
                "  pulse ingest, {clients:>3} clients:  {:>9.0} events/s (rounds, k: {}); paired ratio to the ceiling {:.2}× (rounds: {}; target ≥ 0.5×)",
                median(rates.clone()),
                list(&rates, 1000.0),
                median(ratios.clone()),
                list(&ratios, 1.0),
            );
            let node_per_event = median_of(cpus, |c| c.node);
            println!(
                "      CPU per event: node {node_per_event:.1} µs, Pulse {:.1} µs, load generator {:.1} µs; by the node's CPU, \
                 {:.2}× the loop's rows per node-second",
                median_of(cpus, |c| c.pulse),
                median_of(cpus, |c| c.generator),
                node_per_row / node_per_event.max(0.001),
            );
        }
        let l = pulse_latency(&p, &site, &token, 100, 200).await;
        show("track → live on ScyllaDB, 100 subs, 200 ev/s", &l);
        drop(p);
        let dir = tempfile::tempdir().expect("tempdir");
        let (p, site, token) = start_pulse_on(dir.path(), "").await;
        for clients in [64, 256] {
            let rate = load(format!("{}/api/track", p.base), body(&site), clients, secs, 202).await;
            println!("  pulse ingest on embedded SQLite, {clients:>3} clients   {rate:>9.0} events/s");
        }
        let l = pulse_latency(&p, &site, &token, 100, 200).await;
        show("track → live on SQLite, 100 subs, 200 ev/s", &l);
        drop(p);
        let n: usize = std::env::var("BENCH_SCYLLA_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
        for (label, store) in [("embedded SQLite", String::new()), ("ScyllaDB (Cassandra)", store_toml(&node, "bench_report"))] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (ms, import_rate, pageviews) = report_ms(dir.path(), &store, n).await;
            println!(
                "  30-day report, two filters, {n} events over 90 days, on {label:<22} {ms:>7.1} ms   (import {import_rate:.0} events/s; {pageviews} pageviews matched)"
            );
        }
    }
}
