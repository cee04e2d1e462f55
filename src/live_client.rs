//! The ONE browser transport for live data: WebSocket first, SSE after repeated WebSocket
//! failures (or forced with `?transport=sse`), full-jitter exponential backoff, and resume by
//! cursor so nothing is missed across reconnects. It reports through `LiveStatus` signals and
//! hands every decoded `LiveMessage` to the page. When the server says the login is no longer
//! valid (`error` `unauthorized`, or a `401` on the stream URL after a failed attempt) it stops
//! retrying and reports `LinkState::Unauthorized`, so the page can send the user to log in.
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
}

impl LiveStatus {
    pub fn new(force_sse: bool) -> Self {
        Self {
            link: RwSignal::new(LinkState::Connecting),
            transport: RwSignal::new(if force_sse { TransportKind::Sse } else { TransportKind::WebSocket }),
            messages: RwSignal::new(0),
            gaps: RwSignal::new(0),
            live_since: RwSignal::new(None),
        }
    }
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base·2^attempt)]`, at least 100 ms.
/// `unit` is a uniform random number in `[0, 1)`.
pub fn backoff_ms(attempt: u32, unit: f64) -> f64 {
    let ceiling = (BACKOFF_BASE_MS * 2f64.powi(attempt.min(16) as i32)).min(BACKOFF_CAP_MS);
    (ceiling * unit.clamp(0.0, 1.0)).max(100.0)
}

/// Starts the live connection for one website; it runs until the returned handle is dropped.
pub fn connect(
    website_id: String,
    cursor: Option<String>,
    force_sse: bool,
    status: LiveStatus,
    on_message: impl Fn(crate::model::LiveMessage) + 'static,
) -> ConnectionHandle {
    #[cfg(feature = "hydrate")]
    {
        browser::connect(website_id, cursor, force_sse, status, on_message)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (website_id, cursor, force_sse, status, on_message);
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
        cursor: RefCell<Option<String>>,
        /// The server said `unauthorized`.
        unauthorized: Cell<bool>,
        status: LiveStatus,
        on_message: Box<dyn Fn(LiveMessage)>,
    }

    impl Link {
        /// Returns whether the message proves the link is live.
        fn deliver(&self, text: &str) -> bool {
            let msg: LiveMessage = match serde_json::from_str(text) {
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
        status: LiveStatus,
        on_message: impl Fn(LiveMessage) + 'static,
    ) -> ConnectionHandle {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let link = Rc::new(Link {
            website_id,
            cursor: RefCell::new(cursor),
            unauthorized: Cell::new(false),
            status,
            on_message: Box::new(on_message),
        });
        leptos::task::spawn_local(async move {
            let mut stop = stop_rx.fuse();
            let mut attempt: u32 = 0;
            let mut ws_failures: u32 = 0;
            loop {
                let sse = force_sse || ws_failures >= WS_FAILURES_BEFORE_SSE;
                link.status.transport.set(if sse { TransportKind::Sse } else { TransportKind::WebSocket });
                let session = if sse { run_sse(link.clone()).boxed_local() } else { run_ws(link.clone()).boxed_local() };
                let went_live = match select(session, &mut stop).await {
                    Either::Left((went_live, _)) => went_live,
                    Either::Right(_) => return, // page left: the session future is dropped, closing it
                };
                link.status.live_since.set(None);
                // an attempt that never went live may have been refused for the login (SSE
                // cannot see the status code): ask the same URL for JSON to find out
                if link.unauthorized.get() || (!went_live && login_refused(&link.website_id).await) {
                    link.status.link.set(LinkState::Unauthorized);
                    return;
                }
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
                if let Either::Right(_) = select(sleep(delay).boxed_local(), &mut stop).await {
                    return;
                }
            }
        });
        ConnectionHandle { _stop: Some(stop_tx) }
    }

    /// Whether the live endpoint now answers `401` for this website (login expired or revoked).
    async fn login_refused(website_id: &str) -> bool {
        let url = format!("/api/live/sse?website_id={website_id}");
        match gloo_net::http::Request::get(&url).header("Accept", "application/json").send().await {
            Ok(resp) => resp.status() == 401,
            Err(_) => false, // offline: keep retrying
        }
    }

    /// One WebSocket session; returns whether it went live before it ended.
    async fn run_ws(link: Rc<Link>) -> bool {
        let (host, scheme) = origin();
        let Ok(ws) = WebSocket::open(&format!("{scheme}://{host}/api/live/ws")) else { return false };
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
            let next = select(stream.next(), sleep(SILENCE_TIMEOUT_MS as f64).boxed_local()).await;
            match next {
                Either::Left((Some(Ok(Message::Text(text))), _)) => went_live |= link.deliver(&text),
                Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
                Either::Left((Some(Err(_)) | None, _)) | Either::Right(_) => return went_live,
            }
        }
    }

    /// One SSE session with our own error handling (the browser's silent auto-reconnect is
    /// disabled by closing on the first error, so the status bar tells the truth).
    async fn run_sse(link: Rc<Link>) -> bool {
        let (host, _) = origin();
        let proto = web_sys::window().and_then(|w| w.location().protocol().ok()).unwrap_or_else(|| "http:".into());
        let mut url = format!("{proto}//{host}/api/live/sse?website_id={}", link.website_id);
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
        let mut went_live = false;
        // ends on an error event (None), a closed channel or silence
        while let Either::Left((Some(Some(text)), _)) =
            select(rx.next(), sleep(SILENCE_TIMEOUT_MS as f64).boxed_local()).await
        {
            went_live |= link.deliver(&text);
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
