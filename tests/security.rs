//! Hardening seen from outside: foreign origins cannot open live streams or change state with
//! a user's cookie, URL tokens work only on the live streams, `/metrics` is not public, the
//! session cookie is `Secure` over HTTPS, and every response carries the security headers.

mod common;

use common::*;
use pulse::server::config::{Secret, TrustProxy};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const FOREIGN: &str = "https://shop.example";

/// Opens the live WebSocket with `origin`; the HTTP status of a refused handshake, else 101.
async fn ws_status(ctx: &Ctx, origin: &str) -> u16 {
    let mut req = ctx.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_page_of_another_origin_cannot_open_live_streams_or_change_state() {
    let ctx = setup_with(|c| c.live.allowed_origins = vec!["https://wall.example.com".into()]).await;
    let own = format!("http://{}", ctx.server.addr);
    assert_eq!(ws_status(&ctx, FOREIGN).await, 403);
    assert_eq!(ws_status(&ctx, &own).await, 101);
    assert_eq!(ws_status(&ctx, "https://wall.example.com").await, 101, "an allowed origin");

    let sse = |origin: &'static str| {
        ctx.http
            .get(format!("{}/api/live/sse?website_id={}", ctx.base, ctx.site))
            .header("accept", "application/json")
            .header("origin", origin)
            .bearer_auth(&ctx.token)
            .send()
    };
    let r = sse(FOREIGN).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");

    let close = |origin: Option<&str>| {
        let mut req = ctx.http.delete(format!("{}/api/websites/{}/connections", ctx.base, ctx.site)).bearer_auth(&ctx.token);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    assert_eq!(close(Some(FOREIGN)).await.unwrap().status(), 403);
    assert_eq!(close(Some(&own)).await.unwrap().status(), 200);
    assert_eq!(close(None).await.unwrap().status(), 200, "tools send no Origin");
    // the tracking endpoint answers any origin
    let r = ctx
        .http
        .post(format!("{}/api/track", ctx.base))
        .header("origin", FOREIGN)
        .header("user-agent", CHROME)
        .json(&json!({"website_id": ctx.site, "url": "https://example.com/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn a_token_in_the_url_works_on_the_live_streams_only() {
    let ctx = setup().await;
    let r = ctx.http.get(format!("{}/api/websites?access_token={}", ctx.base, ctx.token)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = ctx
        .http
        .get(format!("{}/api/live/sse?website_id={}&access_token={}", ctx.base, ctx.site, ctx.token))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_are_for_loopback_admins_and_the_metrics_token() {
    // behind one trusted proxy, so a forwarded address can play a remote scraper
    let ctx = setup_with(|c| {
        c.trust_proxy = TrustProxy::Hops(1);
        c.metrics_token = Some(Secret::new("scrape-me-0123456789"));
    })
    .await;
    let get = |forwarded: Option<&'static str>, bearer: Option<String>| {
        let mut req = ctx.http.get(format!("{}/metrics", ctx.base));
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    assert_eq!(get(None, None).await.unwrap().status(), 200, "loopback");
    let remote = Some("203.0.113.9");
    let r = get(remote, None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    assert_eq!(get(remote, Some("wrong-token".into())).await.unwrap().status(), 401);
    let ok = get(remote, Some("scrape-me-0123456789".into())).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("pulse_ingest_events"));
    assert_eq!(get(remote, Some(ctx.token.clone())).await.unwrap().status(), 200, "an admin");
    let member = member_token(&ctx, "member@pulse.local").await;
    assert_eq!(get(remote, Some(member)).await.unwrap().status(), 403);
    // a forwarded request is not a local one, even claiming loopback, even without trust_proxy
    assert_eq!(get(Some("127.0.0.1"), None).await.unwrap().status(), 401);
    let untrusting = setup().await;
    let r = untrusting.http.get(format!("{}/metrics", untrusting.base)).header("x-forwarded-for", "198.51.100.1").send().await.unwrap();
    assert_eq!(r.status(), 401, "a same-host proxy forwarding a remote client");
}

#[tokio::test]
async fn the_session_cookie_is_secure_over_https_and_responses_carry_security_headers() {
    let login = |ctx: &Ctx| {
        ctx.http
            .post(format!("{}/api/auth/login", ctx.base))
            .json(&json!({"email": "admin@test.local", "password": PASSWORD}))
            .send()
    };
    let ctx = setup().await;
    let r = login(&ctx).await.unwrap();
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_string()).collect();
    assert_eq!(cookies.len(), 2, "the access token and the refresh cookie: {cookies:?}");
    for cookie in &cookies {
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    }
    for path in ["/login", "/api/websites", "/health"] {
        let r = ctx.http.get(format!("{}{path}", ctx.base)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'self'"), "{path}");
    }
    // a rendered page allows only scripts carrying its own nonce, and the hydration script has it
    let page = ctx.http.get(format!("{}/login", ctx.base)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect(&csp).to_string();
    assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    assert!(!csp.split(';').any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline")), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    let again = ctx.http.get(format!("{}/login", ctx.base)).send().await.unwrap();
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce), "a new nonce per response");
    let ctx = setup_with(|c| c.public_url = Some("https://pulse.example.com".into())).await;
    let r = login(&ctx).await.unwrap();
    assert!(r.headers().get_all("set-cookie").iter().all(|c| c.to_str().unwrap().contains("; Secure")));
}

#[tokio::test]
async fn server_functions_refuse_a_foreign_origin_and_logins_redirect_only_locally() {
    use leptos::server_fn::ServerFn;
    let ctx = setup().await;
    // a script on another site posting to a server function with the admin's credentials
    let path = <pulse::app::settings_fns::AddUser as ServerFn>::PATH;
    let r = ctx
        .http
        .post(format!("{}{path}", ctx.base))
        .bearer_auth(&ctx.token)
        .header("origin", "https://tracked-site.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=evil%40example.com&password=12345678&admin=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(ctx.server.state.accounts.user_by_email("evil@example.com").await.unwrap().is_none(), "nothing created");
    // the same call from Pulse's own page works
    let own = format!("http://{}", ctx.server.addr);
    let r = ctx
        .http
        .post(format!("{}{path}", ctx.base))
        .bearer_auth(&ctx.token)
        .header("origin", own)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ok%40example.com&password=12345678")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // after a form login, `next` leads only to a path of this server
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (next, to) in [("/websites/x", "/websites/x"), ("/%5Cevil.com", "/"), ("//evil.com", "/"), ("/%09/evil.com", "/")] {
        let r = client
            .post(format!("{}/api/auth/login", ctx.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email=admin%40test.local&password={}&next={next}", PASSWORD.replace(' ', "+")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], to, "next={next}");
    }
}
