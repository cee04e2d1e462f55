//! Test harness: a real Pulse on 127.0.0.1:0 with a temp data dir, an admin, a website, and
//! small WebSocket / SSE clients that wait for conditions with timeouts (never sleep-and-hope).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pulse::model::{LiveMessage, Website};
use pulse::server::config::Config;
use pulse::server::Server;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

pub const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
pub const PASSWORD: &str = "correct horse battery";
pub const WAIT: Duration = Duration::from_secs(5);

pub struct Ctx {
    pub server: Server,
    pub base: String,
    pub token: String,
    pub site: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// The CQL node the tests may use (`PULSE_TEST_CQL=host:port`, set by `scripts/test.sh`
/// after it starts Cassandra), when `PULSE_TEST_STORE=scylla` asks for that backend.
pub fn test_cql_node() -> Option<String> {
    std::env::var("PULSE_TEST_CQL").ok().filter(|n| !n.trim().is_empty())
}

/// `PULSE_TEST_STORE=scylla`: the server tests run on ScyllaDB (Cassandra here), one keyspace
/// per test named after its data directory.
pub fn on_scylla() -> bool {
    std::env::var("PULSE_TEST_STORE").is_ok_and(|s| s == "scylla")
}

/// A keyspace name unique to `dir` (a test's temp dir).
pub fn keyspace_for(dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    format!("t{:016x}", h.finish())
}

/// Points a `pulse` command at the same store as `config(dir)` (SQLite in `dir`, or the test
/// keyspace on the CQL node).
pub fn store_env(cmd: &mut std::process::Command, dir: &Path) {
    let cfg = config(dir);
    cmd.env("PULSE_DATA_DIR", dir)
        .env("PULSE_CONFIG", dir.join("none.toml"))
        .env("PULSE_STORE", if on_scylla() { "scylla" } else { "sqlite" })
        .env("PULSE_SCYLLA_NODES", cfg.store.nodes.join(","))
        .env("PULSE_SCYLLA_KEYSPACE", &cfg.store.keyspace)
        .env("PULSE_SCYLLA_CONSISTENCY", &cfg.store.consistency);
}

pub fn config(dir: &Path) -> Config {
    let mut cfg = Config { data_dir: dir.to_path_buf(), demo: false, ..Default::default() };
    if on_scylla() {
        cfg.store.backend = pulse::server::config::Backend::Scylla;
        cfg.store.nodes = vec![test_cql_node().expect("PULSE_TEST_STORE=scylla needs PULSE_TEST_CQL=host:port")];
        cfg.store.keyspace = keyspace_for(dir);
        cfg.store.consistency = "one".into();
    }
    cfg.ingest.batch_linger_ms = 1;
    // every test connects from 127.0.0.1 as one user; tests/limits.rs checks the defaults
    cfg.live.max_connections_per_user = 1_000;
    cfg.live.max_connections_per_ip = 1_000;
    cfg.login_per_ip_per_minute = 1_000;
    cfg.login_per_account_per_minute = 1_000;
    cfg.ingest.rate_per_website = 100_000;
    cfg.ingest.burst_per_website = 100_000;
    cfg
}

/// The password `member_token` gives its users.
pub const MEMBER_PASSWORD: &str = "member password";

/// Creates a member (no website access) and returns their token.
pub async fn member_token(ctx: &Ctx, email: &str) -> String {
    let hash = pulse::server::auth::hash_password(MEMBER_PASSWORD).unwrap();
    ctx.server.state.accounts.create_user(email, &hash, false).await.unwrap();
    member_login(ctx, email).await
}

/// Logs in a user `member_token` created; returns their token.
pub async fn member_login(ctx: &Ctx, email: &str) -> String {
    let r = ctx
        .http
        .post(format!("{}/api/auth/login", ctx.base))
        .json(&json!({"email": email, "password": MEMBER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

pub async fn start_with(cfg: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leptos = leptos::config::LeptosOptions::builder().output_name("pulse").build();
    Server::start(cfg, leptos, listener).await.unwrap()
}

/// Creates the admin and one website in a fresh store.
pub async fn seed(dir: &Path) -> String {
    let store = pulse::server::store::open(&config(dir)).await.unwrap().accounts;
    let hash = pulse::server::auth::hash_password(PASSWORD).unwrap();
    let uid = store.create_user("admin@test.local", &hash, true).await.unwrap();
    let site = Website::new(uuid::Uuid::new_v4().to_string(), "example.com", "Example");
    store.create_website(&site, Some(uid)).await.unwrap();
    site.id
}

pub async fn login(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "admin@test.local", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

pub async fn setup_with(tweak: impl FnOnce(&mut Config)) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    let site = seed(dir.path()).await;
    let mut cfg = config(dir.path());
    tweak(&mut cfg);
    let server = start_with(cfg).await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let token = login(&http, &base).await;
    Ctx { server, base, token, site, dir, http }
}

pub async fn setup() -> Ctx {
    setup_with(|_| {}).await
}

impl Ctx {
    /// Stops the server cleanly and starts a new one on the same data directory, logged in.
    pub async fn restart(self) -> Ctx {
        let Ctx { server, dir, http, site, .. } = self;
        server.stop().await.unwrap();
        let server = start_with(config(dir.path())).await;
        let base = format!("http://{}", server.addr);
        let token = login(&http, &base).await;
        Ctx { server, base, token, site, dir, http }
    }

    /// Posts a tracking body; returns status and JSON answer.
    pub async fn track_raw(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/track", self.base))
            .header("user-agent", CHROME)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A second website (owned by nobody; the admin sees every website). Returns its id.
    pub async fn add_website(&self) -> String {
        // events are tracked with example.com page URLs on every test website
        let site = Website {
            allowed_hostnames: vec!["example.com".into()],
            ..Website::new(uuid::Uuid::new_v4().to_string(), "other.example", "Other")
        };
        self.server.state.accounts.create_website(&site, None).await.unwrap();
        site.id
    }

    /// Tracks a pageview of `path` by `visitor`; asserts 202.
    pub async fn track(&self, path: &str, visitor: &str) -> String {
        self.track_on(&self.site, path, visitor).await
    }

    /// Tracks a pageview on another website of this server; asserts 202.
    pub async fn track_on(&self, site: &str, path: &str, visitor: &str) -> String {
        let (status, body) = self
            .track_raw(json!({"website_id": site, "url": format!("https://example.com{path}"), "visitor_id": visitor}))
            .await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Opens `GET /api/live/sse?{query}` as the admin, resuming from `last_event_id` if given.
    pub async fn sse(&self, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(format!("{}/api/live/sse?{query}", self.base))
            .header("accept", "text/event-stream")
            .bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        req.send().await.unwrap()
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/live/ws?access_token={}", self.server.addr, self.token)
    }

    pub async fn ws(&self) -> Ws {
        let (s, _) = tokio_tungstenite::connect_async(self.ws_url()).await.unwrap();
        Ws(s)
    }

    /// A WebSocket subscribed to the context's website (no cursor), with its first message.
    pub async fn watch(&self) -> (Ws, LiveMessage) {
        let mut ws = self.ws().await;
        ws.subscribe(&self.site, None).await;
        let first = ws.next().await;
        (ws, first)
    }
}

pub struct Ws(pub tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>);

impl Ws {
    /// A WebSocket to the server at `base` (`http://host:port`) with an access token.
    pub async fn connect(base: &str, token: &str) -> Ws {
        let url = format!("{}/api/live/ws?access_token={token}", base.replacen("http", "ws", 1));
        let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Ws(s)
    }

    pub async fn send(&mut self, v: Value) {
        self.0.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn subscribe(&mut self, site: &str, cursor: Option<&str>) {
        let mut cmd = json!({"type": "subscribe", "website_id": site});
        if let Some(c) = cursor {
            cmd["cursor"] = json!(c);
        }
        self.send(cmd).await;
    }

    /// The next message, decoded with the shared model type.
    pub async fn next(&mut self) -> LiveMessage {
        loop {
            let msg = tokio::time::timeout(WAIT, self.0.next()).await.expect("no message within 5 s");
            match msg.expect("stream ended").expect("websocket error") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}")),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => {}
            }
        }
    }

    /// The next message that is not a heartbeat or stats.
    pub async fn next_significant(&mut self) -> LiveMessage {
        loop {
            match self.next().await {
                LiveMessage::Heartbeat { .. } | LiveMessage::Stats { .. } => {}
                m => return m,
            }
        }
    }
}

/// A minimal SSE reader over a reqwest body.
pub struct Sse {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

#[derive(Debug, Default, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Sse {
    pub fn new(resp: reqwest::Response) -> Self {
        Self { stream: resp.bytes_stream().boxed(), buf: String::new() }
    }

    /// The raw body stream (to wait for its end).
    pub fn into_inner(self) -> futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>> {
        self.stream
    }

    pub async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data.push_str(v.trim_start());
                    }
                }
                if ev.data.is_empty() {
                    continue; // comment (keep-alive)
                }
                return ev;
            }
            let chunk = tokio::time::timeout(WAIT, self.stream.next()).await.expect("no SSE data within 5 s");
            let chunk = chunk.expect("SSE stream ended").expect("SSE read error");
            self.buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    pub async fn next_of(&mut self, kinds: &[&str]) -> SseEvent {
        loop {
            let e = self.next().await;
            if kinds.contains(&e.event.as_str()) {
                return e;
            }
        }
    }
}

/// A pageview as the server would store it, for tests that write to the store directly.
pub fn event(site: &str, path: &str, visitor: &str, time: chrono::DateTime<chrono::Utc>) -> pulse::model::Event {
    pulse::model::Event {
        id: uuid::Uuid::now_v7(),
        website_id: site.into(),
        time,
        kind: "pageview".into(),
        pathname: path.into(),
        url: format!("https://example.com{path}"),
        referrer: None,
        source: None,
        title: None,
        visitor_id: visitor.into(),
        session_id: None,
        device: pulse::model::Device::Desktop,
        browser: None,
        os: None,
        country: None,
        props: Default::default(),
    }
}

/// The pathname of an `event` message (SSE data or WebSocket frame), else a panic naming it.
pub fn event_path(data: &str) -> String {
    match serde_json::from_str::<LiveMessage>(data).unwrap_or_else(|e| panic!("{e}: {data}")) {
        LiveMessage::Event { event, .. } => event.pathname,
        m => panic!("expected an event, got {m:?}"),
    }
}
