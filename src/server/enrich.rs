//! Enrichment of a tracking request: user agent → device/browser/OS and bot detection,
//! referrer → source (`utm_source` first), IP → country (MaxMind-format database), and the
//! URL → pathname. Pure functions plus the loaded lookups; no I/O per request. Real traffic
//! repeats a few hundred user agents, so each distinct one is parsed once and kept in a
//! bounded cache.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use crate::model::Device;

/// Distinct user agents remembered; when full, quick_cache's S3-FIFO policy evicts the ones
/// seen least (a miss only costs a parse).
const AGENT_CACHE_ENTRIES: usize = 4096;
/// Longer user agents are parsed every time instead of cached, which bounds the cache at
/// about `AGENT_CACHE_ENTRIES × 512` bytes of keys.
const AGENT_CACHE_MAX_KEY: usize = 512;

pub struct Enricher {
    bots: isbot::Bots,
    ua: woothee::parser::Parser,
    geo: Option<maxminddb::Reader<Vec<u8>>>,
    agents: quick_cache::sync::Cache<String, Arc<Agent>>,
}

/// What one user agent string says, independent of the request.
#[derive(Debug)]
struct Agent {
    bot: bool,
    browser: Option<String>,
    os: Option<String>,
    /// Device class from the user agent alone (a screen width overrides it).
    device: Device,
}

/// A country record in either layout: ip-location-db (`country_code`) or MaxMind GeoIP2 /
/// GeoLite2 (`country.iso_code`).
#[derive(serde::Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCountry<'a>>,
}

#[derive(serde::Deserialize)]
struct IsoCountry<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// A crawler, monitor, headless browser or empty user agent: not stored.
    pub bot: bool,
    pub device: Device,
    pub browser: Option<String>,
    pub os: Option<String>,
}

impl Enricher {
    pub fn new(geoip: Option<&Path>) -> Self {
        let geo = geoip.and_then(|p| match maxminddb::Reader::open_readfile(p) {
            Ok(r) => {
                tracing::info!(path = %p.display(), "country database loaded");
                Some(r)
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "country database unreadable; country will be null");
                None
            }
        });
        if geo.is_none() {
            tracing::info!("no country database; country will be null");
        }
        Self {
            bots: isbot::Bots::default(),
            ua: woothee::parser::Parser::new(),
            geo,
            agents: quick_cache::sync::Cache::new(AGENT_CACHE_ENTRIES),
        }
    }

    fn agent(&self, user_agent: &str) -> Arc<Agent> {
        if let Some(known) = self.agents.get(user_agent) {
            return known;
        }
        let agent = Arc::new(self.parse_agent(user_agent));
        if user_agent.len() <= AGENT_CACHE_MAX_KEY {
            self.agents.insert(user_agent.to_string(), agent.clone());
        }
        agent
    }

    fn parse_agent(&self, user_agent: &str) -> Agent {
        let trimmed = user_agent.trim();
        let parsed = self.ua.parse(user_agent);
        let known = |s: &str| (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then(|| s.to_string());
        let lower = user_agent.to_ascii_lowercase();
        let device = if lower.contains("ipad") || lower.contains("tablet") {
            Device::Tablet
        } else {
            match parsed.as_ref().map(|r| r.category) {
                Some("smartphone") | Some("mobilephone") => Device::Mobile,
                _ => Device::Desktop,
            }
        };
        Agent {
            bot: trimmed.is_empty() || self.bots.is_bot(trimmed),
            browser: parsed.as_ref().and_then(|r| known(r.name)),
            os: parsed.as_ref().and_then(|r| known(r.os)),
            device,
        }
    }

    /// Crawlers, monitors, headless browsers and empty user agents.
    pub fn is_bot(&self, user_agent: &str) -> bool {
        self.agent(user_agent).bot
    }

    pub fn client(&self, user_agent: &str, screen_width: Option<u32>) -> Client {
        let agent = self.agent(user_agent);
        let device = match screen_width {
            Some(w) if w > 0 && w < 768 => Device::Mobile,
            Some(w) if w > 0 && w < 1024 => Device::Tablet,
            Some(w) if w > 0 => Device::Desktop,
            _ => agent.device,
        };
        Client { bot: agent.bot, device, browser: agent.browser.clone(), os: agent.os.clone() }
    }

    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let record: CountryRecord = self.geo.as_ref()?.lookup(ip).ok()??;
        record.country_code.or(record.country.and_then(|c| c.iso_code)).map(str::to_string)
    }
}

/// The campaign parameters a stored URL keeps (no other `utm_`-looking name: `utm_token` is
/// just a parameter).
const CAMPAIGN_PARAMS: [&str; 6] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"];

fn is_campaign(name: &str) -> bool {
    CAMPAIGN_PARAMS.contains(&name)
}

/// A URL as stored and streamed (the page, and the referrer): scheme, host, port and path,
/// plus only the `utm_*` campaign parameters (in their order). Any other query parameter —
/// `?token=…`, `?email=…` —, a credential in the authority, and the fragment are dropped:
/// every watcher of the website would otherwise see them.
pub fn public_url(page: &url::Url) -> String {
    public_url_keeping(page, &[])
}

/// `public_url`, also keeping the query parameters named in `keep` (a website's allow-list).
pub fn public_url_keeping(page: &url::Url, keep: &[String]) -> String {
    let is_campaign = |k: &str| is_campaign(k) || keep.iter().any(|p| p == k);
    // the common case (nothing to drop) costs a scan, not a rebuild
    if page.fragment().is_none()
        && page.username().is_empty()
        && page.password().is_none()
        && page.query_pairs().all(|(k, _)| is_campaign(&k))
    {
        return page.as_str().to_string();
    }
    let mut out = page.clone();
    let _ = out.set_username("");
    let _ = out.set_password(None);
    out.set_fragment(None);
    let kept: Vec<(String, String)> = page
        .query_pairs()
        .filter(|(k, _)| is_campaign(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        out.set_query(None);
    } else {
        out.query_pairs_mut().clear().extend_pairs(kept);
    }
    out.to_string()
}

/// The referrer as stored — stripped like a page URL when it is an http(s) URL (a same-site
/// referrer is the previous page, with whatever its URL carried), anything else as sent — and
/// the event's `source`, from one parse of the referrer.
pub fn referrer_and_source(page: &url::Url, referrer: Option<&str>) -> (Option<String>, Option<String>) {
    let parsed = referrer.and_then(|r| url::Url::parse(r).ok());
    let stored = referrer.map(|raw| match &parsed {
        Some(u) if matches!(u.scheme(), "http" | "https") => public_url(u),
        _ => raw.to_string(),
    });
    (stored, source(page, parsed.as_ref()))
}

/// `utm_source` of the page URL, else the referrer's host without `www.`; a referrer on the
/// page's own host is internal navigation, not a source.
pub fn source(page: &url::Url, referrer: Option<&url::Url>) -> Option<String> {
    if let Some((_, v)) = page.query_pairs().find(|(k, _)| k == "utm_source") {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.chars().take(100).collect());
        }
    }
    let host = referrer?.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    let own = page.host_str().map(|h| h.to_ascii_lowercase());
    let own = own.as_deref().map(|h| h.strip_prefix("www.").unwrap_or(h));
    (Some(host.as_str()) != own).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

    #[test]
    fn parses_browser_os_and_device() {
        let e = Enricher::new(None);
        let c = e.client(CHROME, None);
        assert_eq!(c.browser.as_deref(), Some("Chrome"));
        assert_eq!(c.os.as_deref(), Some("Linux"));
        assert_eq!(c.device, Device::Desktop);
        assert_eq!(e.client(IPHONE, None).device, Device::Mobile);
        assert_eq!(e.client(CHROME, Some(800)).device, Device::Tablet);
    }

    #[test]
    fn cached_answers_match_a_fresh_parse() {
        let e = Enricher::new(None);
        for _ in 0..3 {
            assert_eq!(e.client(IPHONE, None).device, Device::Mobile);
            assert_eq!(e.client(IPHONE, Some(1400)).device, Device::Desktop); // width still wins
            assert!(e.is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"));
            assert!(!e.is_bot(CHROME));
        }
        let long = format!("{CHROME} {}", "x".repeat(AGENT_CACHE_MAX_KEY));
        assert_eq!(e.client(&long, None).browser.as_deref(), Some("Chrome")); // parsed, not cached
        assert_eq!(e.agents.len(), 3);
    }

    #[test]
    fn detects_bots() {
        let e = Enricher::new(None);
        assert!(e.is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"));
        assert!(e.is_bot("curl/8.0"));
        assert!(e.is_bot(""));
        assert!(!e.is_bot(CHROME));
    }

    #[test]
    fn the_public_url_keeps_the_path_and_campaign_parameters_only() {
        let url = |s: &str| public_url(&url::Url::parse(s).unwrap());
        assert_eq!(
            url("https://user:pw@shop.example:8443/a/b?token=s3cret&utm_source=news&email=x%40y.z&utm_campaign=fall#top"),
            "https://shop.example:8443/a/b?utm_source=news&utm_campaign=fall"
        );
        assert_eq!(url("https://shop.example/a?token=s3cret"), "https://shop.example/a");
        assert_eq!(url("https://shop.example/"), "https://shop.example/");
        assert_eq!(url("https://shop.example/a?utm_source=x&utm_medium=y"), "https://shop.example/a?utm_source=x&utm_medium=y");
        assert_eq!(url("https://shop.example/a?"), "https://shop.example/a?");
        assert_eq!(url("https://shop.example/a?utm_token=s3cret&utm_medium=m"), "https://shop.example/a?utm_medium=m");
        let page = url::Url::parse("https://shop.example/b").unwrap();
        let stored = |r: &str| referrer_and_source(&page, Some(r)).0.unwrap();
        assert_eq!(stored("https://shop.example/reset?token=s3cret"), "https://shop.example/reset");
        assert_eq!(stored("android-app://com.example"), "android-app://com.example");
        assert_eq!(referrer_and_source(&page, None), (None, None));
    }

    #[test]
    fn source_prefers_utm_and_ignores_own_host() {
        let page = url::Url::parse("https://shop.example/a?utm_source=newsletter").unwrap();
        let source = |page: &url::Url, r: Option<&str>| referrer_and_source(page, r).1;
        assert_eq!(source(&page, Some("https://google.com/")).as_deref(), Some("newsletter"));
        let page = url::Url::parse("https://www.shop.example/a").unwrap();
        assert_eq!(source(&page, Some("https://www.google.com/search")).as_deref(), Some("google.com"));
        assert_eq!(source(&page, Some("https://shop.example/b")), None);
        assert_eq!(source(&page, Some("not a url")), None);
        assert_eq!(source(&page, None), None);
    }
}
