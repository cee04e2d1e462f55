//! The command line (contract §4): `serve`, `user add`, `site add`, `site grant`, `import`. Every subcommand takes
//! `--data-dir` (env `PULSE_DATA_DIR`); `serve` takes `--addr` (env `PULSE_ADDR`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::server::config::Config;


#[derive(Parser)]
#[command(name = "pulse", version, about = "Realtime web analytics")]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Defaults to `serve` (cargo-leptos runs the binary without arguments).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Global {
    /// Where Pulse keeps its data.
    #[arg(long, global = true, env = "PULSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Settings file; its `[pulse]` table is read.
    #[arg(long, global = true, env = "PULSE_CONFIG", default_value = "Leptos.toml")]
    config: PathBuf,
    /// The address browsers and tracked sites reach Pulse at, for snippets
    /// (e.g. https://pulse.example.com).
    #[arg(long, global = true, env = "PULSE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where events and accounts live: sqlite (a file in the data dir) or scylla.
    #[arg(long, global = true, env = "PULSE_STORE")]
    store: Option<crate::server::config::Backend>,
    /// ScyllaDB contact points, comma-separated host:port.
    #[arg(long, global = true, env = "PULSE_SCYLLA_NODES", value_delimiter = ',')]
    scylla_nodes: Option<Vec<String>>,
    /// ScyllaDB keyspace.
    #[arg(long, global = true, env = "PULSE_SCYLLA_KEYSPACE")]
    scylla_keyspace: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Listen address, e.g. 127.0.0.1:3000.
        #[arg(long, env = "PULSE_ADDR")]
        addr: Option<SocketAddr>,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tracked websites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Import history: NDJSON, one tracking body per line plus `time` (RFC 3339); idempotent.
    Import {
        /// The website the events belong to.
        #[arg(long)]
        website: String,
        /// The NDJSON file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// Global admin: sees every website and the operations endpoints.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Create a website; its id is the last line printed.
    Add {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        name: Option<String>,
        /// Email of the owning user.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Give a user access to a website (a running server applies it at once).
    Grant {
        #[arg(long)]
        website: String,
        #[arg(long)]
        email: String,
        /// `viewer` watches the website; `admin` also manages its members.
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "admin"])]
        role: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] crate::server::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::server::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::server::auth::AuthError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Server(String),
}

/// Threads for blocking work (tokio's default is 512).
const BLOCKING_THREADS: usize = 16;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::server::init_tracing();
    // Blocking work is store reads behind a few connection locks and password hashing: more
    // threads than this only wait on those locks, and under a reconnect storm (hundreds of
    // dashboards authenticating at once) each extra thread costs its stack and allocator heap.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `PULSE_ADDR` when no subcommand (and so no clap `env`) applies.
fn env_addr() -> Result<Option<SocketAddr>, CliError> {
    match std::env::var("PULSE_ADDR") {
        Ok(a) if !a.is_empty() => {
            a.parse().map(Some).map_err(|_| CliError::Usage(format!("PULSE_ADDR={a:?} is not HOST:PORT")))
        }
        _ => Ok(None),
    }
}

/// `[pulse.store]` overridden by flags and the `PULSE_SCYLLA_*` variables that have no flag.
fn store_settings(
    cfg: &mut Config,
    backend: Option<crate::server::config::Backend>,
    nodes: Option<Vec<String>>,
    keyspace: Option<String>,
) -> Result<(), CliError> {
    let s = &mut cfg.store;
    if let Some(b) = backend {
        s.backend = b;
    }
    if let Some(n) = nodes.filter(|n| !n.is_empty()) {
        s.nodes = n.into_iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
    }
    if let Some(k) = keyspace.filter(|k| !k.trim().is_empty()) {
        s.keyspace = k.trim().to_string();
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(r) = env("PULSE_SCYLLA_REPLICATION") {
        s.replication = r.parse().map_err(|e| CliError::Usage(format!("PULSE_SCYLLA_REPLICATION: {e}")))?;
    }
    if let Some(u) = env("PULSE_SCYLLA_USERNAME") {
        s.username = Some(u);
    }
    if let Some(p) = env("PULSE_SCYLLA_PASSWORD") {
        s.password = Some(crate::server::config::Secret::new(p));
    }
    if let Some(t) = env("PULSE_SCYLLA_TLS_CA") {
        s.tls = Some(t);
    }
    if let Some(c) = env("PULSE_SCYLLA_CONSISTENCY") {
        s.consistency = c;
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let mut cfg = Config::load(&cli.global.config)?;
    if let Some(d) = cli.global.data_dir {
        cfg.data_dir = d;
    }
    if let Some(u) = cli.global.public_url.filter(|u| !u.trim().is_empty()) {
        cfg.public_url = Some(u);
    }
    store_settings(&mut cfg, cli.global.store, cli.global.scylla_nodes, cli.global.scylla_keyspace)?;
    cfg.public_url = cfg.public_url.as_deref().map(crate::server::public_url::parse).transpose().map_err(CliError::Usage)?;
    if let Ok(v) = std::env::var("PULSE_ACCESS_TOKEN_SECS") {
        cfg.access_token_secs = v
            .trim()
            .parse()
            .ok()
            .filter(|s| *s >= 5)
            .ok_or_else(|| CliError::Usage(format!("PULSE_ACCESS_TOKEN_SECS={v:?} is not a number of seconds (at least 5)")))?;
    }
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve { addr: env_addr()? },
    };
    match command {
        Command::Serve { addr } => {
            if let Some(a) = addr {
                cfg.addr = a;
            }
            crate::server::run(cfg).await.map_err(|e| CliError::Server(format!("{e:#}")))
        }
        Command::User(UserCommand::Add { email, password, admin }) => {
            let store = crate::server::store::open(&cfg).await?.accounts;
            let email = email.trim().to_string();
            if !email.contains('@') || email.len() > 254 {
                return Err(CliError::Usage(format!("{email:?} is not an email address")));
            }
            if password.chars().count() < 8 {
                return Err(CliError::Usage("the password needs at least 8 characters".into()));
            }
            let hash = crate::server::auth::hash_password(&password)?;
            let id = store.create_user(&email, &hash, admin).await?;
            println!("created {}user {email} (id {id})", if admin { "admin " } else { "" });
            Ok(())
        }
        Command::Site(SiteCommand::Add { domain, name, owner }) => {
            let store = crate::server::store::open(&cfg).await?.accounts;
            let owner_id = match owner {
                Some(e) => Some(
                    store
                        .user_by_email(&e)
                        .await?
                        .ok_or_else(|| CliError::Usage(format!("no user {e}; create it with `pulse user add`")))?
                        .id,
                ),
                None => None,
            };
            // checked and normalised as Settings does (scheme, path and case dropped)
            let form = crate::model::WebsiteForm { domain, name: name.unwrap_or_default(), ..Default::default() };
            let site = crate::server::settings::website_from_form(uuid::Uuid::new_v4().to_string(), &form)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            store.create_website(&site, owner_id).await?;
            println!("created website {} ({})", site.name, site.domain);
            println!(
                "snippet: <script defer src=\"{}/tracker.js\" data-website-id=\"{}\"></script>",
                crate::server::public_url::configured_or_listen(&cfg, cfg.addr),
                site.id
            );
            println!("{}", site.id);
            Ok(())
        }
        Command::Import { website, file } => {
            let stores = crate::server::store::open(&cfg).await?;
            let summary = crate::server::import::run(stores.events.as_ref(), stores.accounts.clone(), cfg.geoip_path().as_deref(), &website, &file)
                .await
                .map_err(|e| CliError::Usage(e.to_string()))?;
            print!("{}", summary.render());
            Ok(())
        }
        Command::Site(SiteCommand::Grant { website, email, role }) => {
            let store = crate::server::store::open(&cfg).await?.accounts;
            let site = store
                .website(&website)
                .await?
                .ok_or_else(|| CliError::Usage(format!("no website {website}; list them in the UI or create one with `pulse site add`")))?;
            let user = store
                .user_by_email(email.trim())
                .await?
                .ok_or_else(|| CliError::Usage(format!("no user {email}; create it with `pulse user add`")))?;
            let role = crate::model::MemberRole::parse(&role).ok_or_else(|| CliError::Usage(format!("{role:?} is not viewer or admin")))?;
            store.grant(&site.id, user.id, role).await?;
            println!("{} is now {} of {} ({})", user.email, role.as_str(), site.name, site.id);
            Ok(())
        }
    }
}
