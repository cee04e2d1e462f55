//! Pulse's runtime settings: defaults, then the `[pulse]` table of `Leptos.toml`, then `PULSE_*`
//! environment variables and command-line flags (applied by `cli`).
//!
//! Leptos' own site settings (`site-root`, `output-name`, …) are not here: cargo-leptos reads
//! them from `Cargo.toml` and hands them to the binary as `LEPTOS_*` variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database, the signing secret and the visitor salts live.
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    /// The address browsers and tracked sites reach Pulse at (e.g. `https://pulse.example.com`),
    /// shown in tracking snippets. Unset: the address each request came to.
    pub public_url: Option<String>,
    /// Create a demo admin and a demo website when the store has no users.
    pub demo: bool,
    /// Reverse proxies in front of Pulse whose `X-Forwarded-For` entries are trusted: `false`
    /// or `0` (default) uses the socket's peer; `true` or `1` the entry the nearest proxy added
    /// (the rightmost); `2` the one before it, and so on. Entries further left are written by
    /// the client and never believed.
    pub trust_proxy: TrustProxy,
    /// MaxMind-format country database; when absent, `country` is null.
    pub geoip_db: Option<PathBuf>,
    /// HS256 signing secret; when absent one is generated into `data_dir/jwt-secret`.
    pub jwt_secret: Option<Secret>,
    /// A Bearer token that lets a scraper read `/metrics` from another host (loopback clients
    /// and admins need none).
    pub metrics_token: Option<Secret>,
    /// Access tokens (cookie, Bearer, `access_token`) expire after this many seconds; browsers
    /// refresh them in-band (env `PULSE_ACCESS_TOKEN_SECS`).
    pub access_token_secs: i64,
    /// A login session (the refresh cookie) lasts this long.
    pub session_hours: i64,
    /// Login attempts per minute per client IP, and per account (email).
    pub login_per_ip_per_minute: u32,
    pub login_per_account_per_minute: u32,
    pub ingest: IngestConfig,
    pub live: LiveConfig,
    pub store: StoreConfig,
}

/// `[pulse.store]` (contract §5): which backend keeps events and accounts.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub backend: Backend,
    /// Contact points, `host:port`; the driver discovers the rest of the cluster.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// Used when Pulse creates the keyspace: a number is SimpleStrategy's replication factor;
    /// a table (`{ dc1 = 3, dc2 = 3 }`) is NetworkTopologyStrategy per data center.
    pub replication: Replication,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS to the cluster: `"off"` (default) or the path of a CA file to verify nodes with.
    pub tls: Option<String>,
    /// Consistency of reads and writes: `one`, `local_quorum` (default), `quorum`, `all`, …
    /// A `202` means the write was acknowledged at this level.
    pub consistency: String,
    /// Events expire after this many days (a TTL; with it, the events table compacts by time
    /// window). 0: kept until their website is deleted.
    pub retention_days: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Scylla,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "scylla" | "scylladb" => Ok(Backend::Scylla),
            other => Err(format!("store backend {other:?} is neither sqlite nor scylla")),
        }
    }
}

/// `replication`: SimpleStrategy with a factor, or NetworkTopologyStrategy per data center.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Replication {
    Simple(u8),
    PerDatacenter(std::collections::BTreeMap<String, u8>),
}

impl std::str::FromStr for Replication {
    type Err = String;
    /// `3`, or `dc1=3,dc2=2` (env `PULSE_SCYLLA_REPLICATION`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return if n > 0 { Ok(Replication::Simple(n)) } else { Err("a replication factor is at least 1".into()) };
        }
        let mut dcs = std::collections::BTreeMap::new();
        for part in s.split(',') {
            let (dc, n) = part
                .split_once('=')
                .ok_or_else(|| format!("replication {s:?} is neither a factor (3) nor per data center (dc1=3,dc2=3)"))?;
            let n: u8 = n.trim().parse().map_err(|_| format!("replication factor {n:?} of {dc:?} is not a number"))?;
            dcs.insert(dc.trim().to_string(), n);
        }
        Ok(Replication::PerDatacenter(dcs))
    }
}

impl Replication {
    /// The CQL `replication` map.
    pub fn cql(&self) -> String {
        match self {
            Replication::Simple(n) => format!("{{'class': 'SimpleStrategy', 'replication_factor': {n}}}"),
            Replication::PerDatacenter(dcs) => {
                let per: Vec<String> = dcs.iter().map(|(dc, n)| format!("'{}': {n}", dc.replace('\'', ""))).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", per.join(", "))
            }
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "pulse".into(),
            replication: Replication::Simple(1),
            username: None,
            password: None,
            tls: None,
            consistency: "local_quorum".into(),
            retention_days: 0,
        }
    }
}

/// A setting that must never reach a log: `Debug` prints `[redacted]`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `trust_proxy`: a flag (one proxy or none) or a number of proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TrustProxy {
    Flag(bool),
    Hops(u8),
}

impl TrustProxy {
    /// How many proxies in front of Pulse are trusted.
    pub fn hops(self) -> usize {
        match self {
            TrustProxy::Flag(on) => usize::from(on),
            TrustProxy::Hops(n) => usize::from(n),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Events waiting for the writer; when full, `/api/track` answers `503 queue_full`.
    pub queue_capacity: usize,
    /// Largest group commit.
    pub batch_max: usize,
    /// How long the writer waits for more events after the first one of a batch. 0 (default):
    /// a batch is whatever arrived while the previous commit was being written, which already
    /// groups commits under load without adding latency (tokio's timer rounds any wait up to the
    /// next millisecond, which cost ~30 % of ingest throughput at 1 ms).
    pub batch_linger_ms: u64,
    /// Sustained requests per second per client IP, and the burst above it.
    pub rate_per_ip: u32,
    pub burst_per_ip: u32,
    /// Sustained events per second per website, and the burst above it.
    pub rate_per_website: u32,
    pub burst_per_website: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    pub max_connections: usize,
    /// Live connections (WebSocket and SSE together) one user may hold …
    pub max_connections_per_user: usize,
    /// … and one client IP (behind `trust_proxy`, the forwarded client's).
    pub max_connections_per_ip: usize,
    pub max_subscriptions: usize,
    /// Frames buffered per connection; a slower reader gets `gap` + a fresh `snapshot`.
    pub connection_queue: usize,
    pub heartbeat_secs: u64,
    /// The resume ring keeps at least this many events per website …
    pub ring_min_events: usize,
    /// … and at least this many minutes of them …
    pub ring_min_minutes: i64,
    /// … but never more than this many (memory bound); older cursors get `gap`.
    pub ring_max_events: usize,
    /// Events kept for snapshots and shown in the feed.
    pub recent_events: usize,
    /// Origins besides Pulse's own whose pages may open live streams and call the API with a
    /// user's cookie, e.g. `["https://wall.example.com"]`.
    pub allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
            demo: true,
            trust_proxy: TrustProxy::Flag(false),
            geoip_db: None,
            jwt_secret: None,
            metrics_token: None,
            access_token_secs: 15 * 60,
            session_hours: 24 * 7,
            login_per_ip_per_minute: 10,
            login_per_account_per_minute: 5,
            ingest: IngestConfig::default(),
            live: LiveConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 20_000,
            batch_max: 2_000,
            batch_linger_ms: 0,
            rate_per_ip: 200,
            burst_per_ip: 1_000,
            rate_per_website: 2_000,
            burst_per_website: 10_000,
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_connections_per_user: 5,
            max_connections_per_ip: 10,
            max_subscriptions: 64,
            connection_queue: 1_024,
            heartbeat_secs: 15,
            ring_min_events: 10_000,
            ring_min_minutes: 10,
            ring_max_events: 50_000,
            recent_events: 100,
            allowed_origins: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    pulse: Option<toml::Value>,
}

impl Config {
    /// Reads the `[pulse]` table of `path`; a missing file means defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path: path.into(), source }),
        };
        Self::from_toml(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        let file: ConfigFile = toml::from_str(text)?;
        match file.pulse {
            Some(table) => table.try_into(),
            None => Ok(Self::default()),
        }
    }

    /// The country database: configured, else the npm package installed by the setup script.
    pub fn geoip_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.geoip_db {
            return Some(p.clone());
        }
        let bundled = PathBuf::from(
            "node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb",
        );
        bundled.exists().then_some(bundled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pulse_table_and_ignores_leptos_table() {
        let c = Config::from_toml(
            "[package.metadata.leptos]\noutput-name = \"x\"\n[pulse]\ndata_dir = \"/tmp/p\"\n[pulse.live]\nheartbeat_secs = 5\n",
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/p"));
        assert_eq!(c.live.heartbeat_secs, 5);
        assert_eq!(c.ingest.batch_max, IngestConfig::default().batch_max);
    }

    #[test]
    fn trust_proxy_is_a_flag_or_a_number_of_proxies() {
        let hops = |v: &str| Config::from_toml(&format!("[pulse]\ntrust_proxy = {v}\n")).unwrap().trust_proxy.hops();
        assert_eq!((hops("false"), hops("true"), hops("0"), hops("2")), (0, 1, 0, 2));
        assert_eq!(Config::default().trust_proxy.hops(), 0);
        assert!(Config::from_toml("[pulse]\ntrust_proxy = \"yes\"\n").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = Config::from_toml("[pulse]\njwt_secret = \"hunter2-hunter2\"\n").unwrap();
        assert_eq!(c.jwt_secret.as_ref().map(Secret::expose), Some("hunter2-hunter2"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn store_settings_read_from_the_store_table() {
        let c = Config::from_toml(
            "[pulse.store]\nbackend = \"scylla\"\nnodes = [\"a:9042\", \"b:9042\"]\nkeyspace = \"k\"\nreplication = { dc1 = 3 }\npassword = \"s3cret-pw\"\n",
        )
        .unwrap();
        assert_eq!(c.store.backend, Backend::Scylla);
        assert_eq!(c.store.nodes, ["a:9042", "b:9042"]);
        assert_eq!(c.store.replication.cql(), "{'class': 'NetworkTopologyStrategy', 'dc1': 3}");
        assert!(!format!("{c:?}").contains("s3cret"));
        let d = Config::default().store;
        assert_eq!((d.backend, d.keyspace.as_str(), d.nodes.len()), (Backend::Sqlite, "pulse", 1));
        assert_eq!(d.replication.cql(), "{'class': 'SimpleStrategy', 'replication_factor': 1}");
        assert_eq!("dc1=3,dc2=2".parse::<Replication>().unwrap().cql(), "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");
        assert!("0".parse::<Replication>().is_err() && "x".parse::<Replication>().is_err());
        assert!("cassandra".parse::<Backend>().is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::from_toml("[pulse]\ndata_dri = \"x\"\n").is_err());
    }
}
