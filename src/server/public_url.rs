//! The address browsers and tracked sites reach Pulse at, for the snippets Pulse shows: the
//! `public_url` setting when given, else the address the request came to (its `Host`, and
//! behind trusted proxies `X-Forwarded-Host`/`-Proto`), else the listen address.

use axum::http::HeaderMap;

use crate::server::config::Config;

/// Checks a `public_url` setting: an absolute http(s) URL without query or fragment. Returns
/// it without a trailing slash.
pub fn parse(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("public_url {value:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("public_url {value:?}: must be an http(s) address such as https://pulse.example.com"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("public_url {value:?}: must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The value a proxy gave a forwarding header (`X-Forwarded-Proto`, `-Host`): its rightmost
/// entry, the one the nearest proxy wrote — entries to its left may come from the client.
pub fn forwarded<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = headers.get_all(name).iter().next_back()?.to_str().ok()?.rsplit(',').next()?.trim();
    (!v.is_empty()).then_some(v)
}

/// Whether a trusted proxy says the browser used HTTPS.
pub fn forwarded_https(cfg: &Config, headers: &HeaderMap) -> bool {
    cfg.trust_proxy.hops() > 0 && forwarded(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A header value usable as a host (`name[:port]`), if it is one.
fn host_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = forwarded(headers, name)?;
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(v)
}

/// `host[:port]` the request was sent to: behind trusted proxies the forwarded host, else
/// `Host` — only if it is a host (it is echoed into pages and compared with origins).
pub fn request_host<'a>(cfg: &Config, headers: &'a HeaderMap) -> Option<&'a str> {
    let proxied = cfg.trust_proxy.hops() > 0;
    proxied.then(|| host_header(headers, "x-forwarded-host")).flatten().or_else(|| host_header(headers, "host"))
}

/// The base URL (no trailing slash) to show in snippets, for a request with `headers`.
pub fn base(cfg: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = &cfg.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let https = forwarded_https(cfg, headers);
    match request_host(cfg, headers) {
        Some(h) => format!("{}://{h}", if https { "https" } else { "http" }),
        None => format!("http://{}", cfg.addr),
    }
}

/// The base URL when there is no request (start-up messages, the CLI).
pub fn configured_or_listen(cfg: &Config, addr: std::net::SocketAddr) -> String {
    cfg.public_url.as_deref().map_or_else(|| format!("http://{addr}"), |u| u.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::TrustProxy;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_setting_wins_then_the_request_then_the_listen_address() {
        let mut cfg = Config::default();
        assert_eq!(base(&cfg, &headers(&[("host", "pulse.local:3000")])), "http://pulse.local:3000");
        assert_eq!(base(&cfg, &HeaderMap::new()), "http://127.0.0.1:3000");
        // forwarded headers count only behind a trusted proxy
        let fwd = headers(&[("host", "10.0.0.5:3000"), ("x-forwarded-host", "stats.example.com"), ("x-forwarded-proto", "https")]);
        assert_eq!(base(&cfg, &fwd), "http://10.0.0.5:3000");
        cfg.trust_proxy = TrustProxy::Flag(true);
        assert_eq!(base(&cfg, &fwd), "https://stats.example.com");
        // a client-written entry left of the proxy's is ignored
        let appended = headers(&[("host", "10.0.0.5:3000"), ("x-forwarded-host", "evil.example, stats.example.com"), ("x-forwarded-proto", "https")]);
        assert_eq!(base(&cfg, &appended), "https://stats.example.com");
        // a host header that is not a host is not echoed into a snippet
        assert_eq!(base(&Config::default(), &headers(&[("host", "evil\"><script>")])), "http://127.0.0.1:3000");
        cfg.public_url = Some("https://pulse.example.com".into());
        assert_eq!(base(&cfg, &fwd), "https://pulse.example.com");
    }

    #[test]
    fn a_public_url_must_be_an_http_address() {
        assert_eq!(parse("https://pulse.example.com/").unwrap(), "https://pulse.example.com");
        assert_eq!(parse("https://example.com/pulse/").unwrap(), "https://example.com/pulse");
        assert!(parse("pulse.example.com").is_err());
        assert!(parse("ftp://pulse.example.com").is_err());
        assert!(parse("https://pulse.example.com/?x=1").is_err());
    }
}
