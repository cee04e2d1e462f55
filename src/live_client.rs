//! The ONE browser transport for live data: WebSocket first, SSE after repeated WebSocket
//! failures (or forced with `?transport=sse`), full-jitter exponential backoff, and resume by
//! cursor so nothing is missed across reconnects. It reports through `LiveStatus` signals and
//! hands every decoded `LiveMessage` to the page.
//!
//! Access: a logged-in page keeps its short-lived access token fresh in-band — it calls
//! `POST /api/auth/refresh` at three quarters of each token's life and hands the new token to
//! the open WebSocket (`refresh` command), or reopens an SSE stream from its cursor. When the
//! server still says `unauthorized` (or a `401` on the stream URL after a failed attempt), one
//! refresh is tried; if the login has ended it stops retrying and reports
//! `LinkState::Unauthorized`, so the page can send the user to log in. A share page passes its
//! link's token as `access_token` instead (share links do not expire).
//!
//! The types and the backoff math compile everywhere; the connection loop only in the browser.

use leptos::prelude::*;

/// Consecutive WebSocket failures before falling back to SSE.
pub const WS_FAILURES_BEFORE_SSE: u32 = 3;
/// Consecutive failed attempts before the status turns from amber to red.
pub const ATTEMPTS_BEFORE_OFFLINE: u32 = 4;
/// No message (not even a heartbeat, sent every ≤ 15 s) for this long means a dead link.
pub const SILENCE_TIMEOUT_MS: u32 = 35_000;
const BACKOFF_BASE_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 8_000.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkState {
    Connecting,
    Live,
    /// Retrying at this time (ms since epoch, browser clock).
    Reconnecting { retry_at: f64 },
    Offline { retry_at: f64 },
    /// The login expired or was revoked: no more retries.
    Unauthorized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    WebSocket,
    Sse,
}

impl TransportKind {
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::WebSocket => "WEBSOCKET",
            TransportKind::Sse => "SSE",
        }
    }
}

/// What the status bar shows.
#[derive(Clone, Copy)]
pub struct LiveStatus {
    pub link: RwSignal<LinkState>,
    pub transport: RwSignal<TransportKind>,
    pub messages: RwSignal<u64>,
    /// `gap` messages received: resumes the server could not replay (0 when every reconnect
    /// resumed exactly).
    pub gaps: RwSignal<u64>,
    /// When the current connection went live (ms since epoch).
    pub live_since: RwSignal<Option<f64>>,
    /// Access tokens renewed while the page was open.
    pub refreshes: RwSignal<u64>,
}

impl LiveStatus {
    pub fn new(force_sse: bool) -> Self {
        Self {
            link: RwSignal::new(LinkState::Connecting),
            transport: RwSignal::new(if force_sse { TransportKind::Sse } else { TransportKind::WebSocket }),
            messages: RwSignal::new(0),
            gaps: RwSignal::new(0),
            live_since: RwSignal::new(None),
            refreshes: RwSignal::new(0),
        }
    }
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base·2^attempt)]`, at least 100 ms.
/// `unit` is a uniform random number in `[0, 1)`.
pub fn backoff_ms(attempt: u32, unit: f64) -> f64 {
    let ceiling = (BACKOFF_BASE_MS * 2f64.powi(attempt.min(16) as i32)).min(BACKOFF_CAP_MS);
    (ceiling * unit.clamp(0.0, 1.0)).max(100.0)
}

/// How the page is allowed to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// The user's login (cookies), refreshed in-band.
    Login,
    /// A share link's token, sent as `access_token`.
    Share(String),
}

/// When to refresh a token that has `left_ms` to live: at three quarters of it, at least 1 s
/// from now.
pub fn refresh_delay_ms(left_ms: f64) -> f64 {
    (left_ms * 0.75).max(1_000.0)
}

/// Starts the live connection for one website; it runs until the returned handle is dropped.
pub fn connect(
    website_id: String,
    cursor: Option<String>,
    force_sse: bool,
    access: Access,
    status: LiveStatus,
    on_message: impl Fn(crate::model::LiveMessage) + 'static,
) -> ConnectionHandle {
    #[cfg(feature = "hydrate")]
    {
        browser::connect(website_id, cursor, force_sse, access, status, on_message)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (website_id, cursor, force_sse, access, status, on_message);
        ConnectionHandle { _stop: None }
    }
}

/// Dropping it stops the connection loop and closes the socket.
pub struct ConnectionHandle {
    #[cfg(feature = "hydrate")]
    _stop: Option<futures::channel::oneshot::Sender<()>>,
    #[cfg(not(feature = "hydrate"))]
    _stop: Option<()>,
}

impl ConnectionHandle {
    /// Stops the connection loop and closes the socket (same as dropping the handle).
    pub fn stop(self) {
        let _stopped = self;
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use futures::channel::{mpsc, oneshot};
    use futures::future::{select, Either};
    use futures::{FutureExt, SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    use super::*;
    use crate::model::{ClientCommand, ErrorCode, LiveMessage};

    fn now() -> f64 {
        js_sys::Date::now()
    }

    async fn sleep(ms: f64) {
        let (tx, rx) = oneshot::channel::<()>();
        set_timeout(move || { let _ = tx.send(()); }, Duration::from_millis(ms as u64));
        let _ = rx.await;
    }

    fn origin() -> (String, String) {
        let loc = web_sys::window().map(|w| w.location());
        let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
        let https = loc.and_then(|l| l.protocol().ok()).is_some_and(|p| p == "https:");
        (host, if https { "wss".into() } else { "ws".into() })
    }

    fn online() -> bool {
        web_sys::window().map(|w| w.navigator().on_line()).unwrap_or(true)
    }

    /// Shared between the loop and the message callback.
    struct Link {
        website_id: String,
        access: Access,
        cursor: RefCell<Option<String>>,
        /// The server said `unauthorized`.
        unauthorized: Cell<bool>,
        /// The open session takes fresh access tokens here (WebSocket: `refresh` command; SSE:
        /// reopen from the cursor).
        tokens: RefCell<Option<mpsc::UnboundedSender<(String, bool)>>>,
        /// The session ended to pick up a fresh token: reconnect at once.
        reconnect_now: Cell<bool>,
        status: LiveStatus,
        on_message: Box<dyn Fn(LiveMessage)>,
    }

    impl Link {
        /// `?access_token=` for a share page, else nothing (the cookie speaks).
        fn token_query(&self, first: bool) -> String {
            match &self.access {
                Access::Share(t) => {
                    let t = String::from(js_sys::encode_uri_component(t));
                    format!("{}access_token={t}", if first { '?' } else { '&' })
                }
                Access::Login => String::new(),
            }
        }

        /// Opens a channel for fresh tokens for the session starting now.
        fn token_channel(&self) -> mpsc::UnboundedReceiver<(String, bool)> {
            let (tx, rx) = mpsc::unbounded();
            *self.tokens.borrow_mut() = Some(tx);
            rx
        }

        /// Returns whether the message proves the link is live.
        fn deliver(&self, text: &str) -> bool {
            let msg: LiveMessage = match crate::app::json_codec::decode(text) {
                Ok(m) => m,
                Err(e) => {
                    leptos::logging::warn!("pulse: undecodable live message: {e}");
                    return false;
                }
            };
            if msg.website_id().is_some_and(|w| w == self.website_id)
                && let Some(c) = msg.cursor()
            {
                *self.cursor.borrow_mut() = Some(c.to_string());
            }
            match &msg {
                LiveMessage::Error { code: ErrorCode::Unauthorized, .. } => self.unauthorized.set(true),
                LiveMessage::Gap { .. } => self.status.gaps.update(|n| *n += 1),
                _ => {}
            }
            let proves_live = matches!(
                msg,
                LiveMessage::Snapshot { .. } | LiveMessage::Event { .. } | LiveMessage::Stats { .. }
            );
            if proves_live && self.status.link.get_untracked() != LinkState::Live {
                self.status.link.set(LinkState::Live);
                self.status.live_since.set(Some(now()));
            }
            self.status.messages.update(|n| *n += 1);
            (self.on_message)(msg);
            proves_live
        }
    }

    pub fn connect(
        website_id: String,
        cursor: Option<String>,
        force_sse: bool,
        access: Access,
        status: LiveStatus,
        on_message: impl Fn(LiveMessage) + 'static,
    ) -> ConnectionHandle {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let link = Rc::new(Link {
            website_id,
            access,
            cursor: RefCell::new(cursor),
            unauthorized: Cell::new(false),
            tokens: RefCell::new(None),
            reconnect_now: Cell::new(false),
            status,
            on_message: Box::new(on_message),
        });
        leptos::task::spawn_local(async move {
            let both = select(connection_loop(link.clone(), force_sse).boxed_local(), keep_fresh(link).boxed_local());
            let _ = select(both, stop_rx).await; // page left: everything is dropped, closing it
        });
        ConnectionHandle { _stop: Some(stop_tx) }
    }

    /// `POST /api/auth/refresh`: a new access token and how long it lives (ms, from the server's
    /// `expires_in`, so a wrong browser clock does not matter), `Ok(None)` when the login has
    /// ended, `Err` when the server could not be asked.
    async fn refresh_token() -> Result<Option<(String, f64)>, ()> {
        let resp = gloo_net::http::Request::post("/api/auth/refresh").send().await.map_err(|_| ())?;
        match resp.status() {
            200 => {
                let text = resp.text().await.map_err(|_| ())?;
                let body: crate::model::LoginResponse = crate::app::json_codec::decode(&text).map_err(|_| ())?;
                Ok(Some((body.token, body.expires_in as f64 * 1000.0)))
            }
            401 | 403 => Ok(None),
            _ => Err(()),
        }
    }

    /// Keeps a logged-in page's access token fresh and hands each new one to the open session.
    async fn keep_fresh(link: Rc<Link>) {
        if link.access != Access::Login {
            return std::future::pending().await;
        }
        // the first refresh (at page start) only tells the token's expiry: an SSE stream does
        // not reopen for it
        let mut first = true;
        loop {
            let delay = match refresh_token().await {
                Ok(Some((token, lifetime_ms))) => {
                    if let Some(tx) = link.tokens.borrow().as_ref() {
                        let _ = tx.unbounded_send((token, first));
                    }
                    first = false;
                    link.status.refreshes.update(|n| *n += 1);
                    refresh_delay_ms(lifetime_ms)
                }
                // the login ended: the stream will say so, and the loop ends there
                Ok(None) => return std::future::pending().await,
                Err(()) => 5_000.0,
            };
            sleep(delay).await;
        }
    }

    /// Connects, and reconnects with backoff, until the login ends.
    async fn connection_loop(link: Rc<Link>, force_sse: bool) {
        {
            let mut attempt: u32 = 0;
            let mut ws_failures: u32 = 0;
            // the last attempt followed a refresh: a second `unauthorized` in a row is final
            let mut after_refresh = false;
            loop {
                let sse = force_sse || ws_failures >= WS_FAILURES_BEFORE_SSE;
                link.status.transport.set(if sse { TransportKind::Sse } else { TransportKind::WebSocket });
                let went_live = if sse { run_sse(link.clone()).await } else { run_ws(link.clone()).await };
                *link.tokens.borrow_mut() = None;
                link.status.live_since.set(None);
                if link.reconnect_now.replace(false) {
                    continue; // an SSE stream reopening with a fresh token, from its cursor
                }
                // an attempt that never went live may have been refused for the login (SSE
                // cannot see the status code): ask the same URL for JSON to find out
                if link.unauthorized.get() || (!went_live && login_refused(&link).await) {
                    // the token may just have expired: one refresh, and straight back
                    let retry = link.access == Access::Login && (went_live || !after_refresh);
                    if retry && matches!(refresh_token().await, Ok(Some(_))) {
                        link.unauthorized.set(false);
                        after_refresh = true;
                        continue;
                    }
                    link.status.link.set(LinkState::Unauthorized);
                    return;
                }
                after_refresh = false;
                if went_live {
                    attempt = 0;
                    if !sse {
                        ws_failures = 0;
                    }
                } else {
                    attempt += 1;
                    if !sse {
                        ws_failures += 1;
                    }
                }
                let delay = backoff_ms(attempt, js_sys::Math::random());
                let retry_at = now() + delay;
                link.status.link.set(if attempt >= ATTEMPTS_BEFORE_OFFLINE || !online() {
                    LinkState::Offline { retry_at }
                } else {
                    LinkState::Reconnecting { retry_at }
                });
                sleep(delay).await;
            }
        }
    }

    /// Whether the live endpoint now answers `401` for this website (login expired or revoked).
    async fn login_refused(link: &Link) -> bool {
        let url = format!("/api/live/sse?website_id={}{}", link.website_id, link.token_query(false));
        match gloo_net::http::Request::get(&url).header("Accept", "application/json").send().await {
            Ok(resp) => resp.status() == 401,
            Err(_) => false, // offline: keep retrying
        }
    }

    /// One WebSocket session; returns whether it went live before it ended.
    async fn run_ws(link: Rc<Link>) -> bool {
        let (host, scheme) = origin();
        let Ok(ws) = WebSocket::open(&format!("{scheme}://{host}/api/live/ws{}", link.token_query(true))) else {
            return false;
        };
        let mut tokens = link.token_channel();
        let (mut sink, mut stream) = ws.split();
        let subscribe = ClientCommand::Subscribe {
            website_id: link.website_id.clone(),
            cursor: link.cursor.borrow().clone(),
        };
        let Ok(text) = serde_json::to_string(&subscribe) else { return false };
        if sink.send(Message::Text(text)).await.is_err() {
            return false;
        }
        let mut went_live = false;
        loop {
            let incoming = select(stream.next(), sleep(SILENCE_TIMEOUT_MS as f64).boxed_local());
            match select(incoming, tokens.next()).await {
                Either::Left((Either::Left((Some(Ok(Message::Text(text))), _)), _)) => went_live |= link.deliver(&text),
                Either::Left((Either::Left((Some(Ok(Message::Bytes(_))), _)), _)) => {}
                Either::Left(_) => return went_live,
                // a fresh access token: the stream goes on under it
                Either::Right((Some((token, _)), _)) => {
                    let Ok(text) = serde_json::to_string(&ClientCommand::Refresh { token }) else { continue };
                    if sink.send(Message::Text(text)).await.is_err() {
                        return went_live;
                    }
                }
                Either::Right((None, _)) => {}
            }
        }
    }

    /// One SSE session with our own error handling (the browser's silent auto-reconnect is
    /// disabled by closing on the first error, so the status bar tells the truth).
    async fn run_sse(link: Rc<Link>) -> bool {
        let (host, _) = origin();
        let proto = web_sys::window().and_then(|w| w.location().protocol().ok()).unwrap_or_else(|| "http:".into());
        let mut url = format!("{proto}//{host}/api/live/sse?website_id={}{}", link.website_id, link.token_query(false));
        if let Some(c) = link.cursor.borrow().as_ref() {
            url.push_str(&format!("&cursor={c}"));
        }
        let Ok(es) = web_sys::EventSource::new(&url) else { return false };
        let (tx, mut rx) = mpsc::unbounded::<Option<String>>();
        let mut listeners = Vec::new();
        for kind in LiveMessage::KINDS {
            let tx = tx.clone();
            let cb = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(s) = e.data().as_string() {
                    let _ = tx.unbounded_send(Some(s));
                }
            });
            let _ = es.add_event_listener_with_callback(kind, cb.as_ref().unchecked_ref());
            listeners.push((kind, cb));
        }
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
            let tx = tx.clone();
            move |_| {
                let _ = tx.unbounded_send(None);
            }
        });
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // Closes the EventSource however this future ends (error, silence or page left).
        struct CloseOnDrop(web_sys::EventSource);
        impl Drop for CloseOnDrop {
            fn drop(&mut self) {
                self.0.set_onerror(None);
                self.0.close();
            }
        }
        let guard = CloseOnDrop(es);
        let mut tokens = link.token_channel();
        let mut went_live = false;
        // ends on an error event (None), a closed channel, silence — or a fresh access token,
        // which the stream (cookie-authenticated when it opened) can only pick up by reopening
        loop {
            let incoming = select(rx.next(), sleep(SILENCE_TIMEOUT_MS as f64).boxed_local());
            match select(incoming, tokens.next()).await {
                Either::Left((Either::Left((Some(Some(text)), _)), _)) => went_live |= link.deliver(&text),
                Either::Left(_) => break,
                Either::Right((Some((_, first)), _)) if went_live && !first => {
                    link.reconnect_now.set(true);
                    break;
                }
                Either::Right(_) => {}
            }
        }
        for (kind, cb) in &listeners {
            let _ = guard.0.remove_event_listener_with_callback(kind, cb.as_ref().unchecked_ref());
        }
        drop(guard);
        drop(on_error);
        went_live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff_ms(0, 0.0), 100.0);
        assert_eq!(backoff_ms(0, 0.999), 500.0 * 0.999);
        assert_eq!(backoff_ms(2, 0.5), 1_000.0);
        assert_eq!(backoff_ms(10, 0.999), 8_000.0 * 0.999);
        assert!(backoff_ms(30, 1.0) <= 8_000.0);
    }
}
