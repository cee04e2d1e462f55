//! One live connection's subscriptions, independent of transport: subscribe (snapshot, or
//! replay from a cursor, or `gap` + snapshot), unsubscribe, and `next()` — the next frame to
//! write, a heartbeat, or a reason to close. Tracks two positions per website: the newest cursor
//! *queued* (so frames already covered by a snapshot or replay are never sent twice) and the
//! position after the last message *handed to the transport* (the SSE `id:` of that message,
//! so a client that drops the link after any message resumes exactly after it).

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{interval_at, sleep_until, Instant, Interval, MissedTickBehavior, Sleep};

use crate::model::{Cursor, ErrorCode, LiveMessage, StreamCursor};
use crate::server::auth::{self, Principal};
use crate::server::error::AppError;
use crate::server::hub::{ConnSignal, Frame, Start, Subscriber};
use crate::server::state::AppState;
use crate::server::store::Seq;

use super::{ConnectionGuard, Revoked};


/// The next revocation, or never once the channel is gone.
async fn recv_revoked(rx: &mut Option<broadcast::Receiver<Revoked>>) -> Result<Revoked, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Markers queued after the final `error` when a stream must end: an admin closed the
/// website's streams, an SSE stream lost access to its last website, or the login (or share
/// link) behind the stream expired or ended.
const CLOSE: &str = "close";
const CLOSE_REVOKED: &str = "close-revoked";
const CLOSE_UNAUTHORIZED: &str = "close-unauthorized";

/// The close reason when the stream's token expired or its login ended (the WebSocket close
/// frame carries it, with code 1008).
pub const UNAUTHORIZED: &str = "unauthorized";

/// The timer that ends a stream when its access token expires (none for a share link).
fn expiry_of(principal: &Principal) -> Option<Pin<Box<Sleep>>> {
    let Principal::User(u) = principal else { return None };
    let left = (u.expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(Box::pin(sleep_until(Instant::now() + left)))
}

/// Waits for the deadline, or forever without one.
async fn expiry(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(s) => s.as_mut().await,
        None => std::future::pending().await,
    }
}

fn close_marker(kind: &'static str) -> Arc<Frame> {
    Arc::new(Frame { website_id: "".into(), seq: 0, kind, json: "".into() })
}

pub enum Next {
    Frame(Arc<Frame>),
    /// Close the connection; the message is the reason.
    Close(&'static str),
}

pub struct LiveSession {
    state: AppState,
    principal: Principal,
    /// Fires when the access token the stream runs on expires (a `refresh` command moves it).
    expiry: Option<Pin<Box<Sleep>>>,
    sub: Subscriber,
    rx: mpsc::Receiver<Arc<Frame>>,
    /// Newest cursor queued per subscribed website (replays and snapshots included).
    delivered: HashMap<String, Seq>,
    /// Position after the last message handed out, per website whose base state (its snapshot,
    /// or the cursor it resumed from) the client holds. What the SSE `id:` covers.
    written: HashMap<String, Seq>,
    /// The transport labels messages with ids (SSE); WebSocket messages carry their own cursor.
    ids: bool,
    /// The stream was opened for several websites: its ids are always `site:seq` lists, so a
    /// website whose snapshot was not written yet is absent rather than implied.
    multi: bool,
    /// Frames produced by commands (snapshots, replays, errors), written before the queue.
    pending: VecDeque<Arc<Frame>>,
    heartbeat: Interval,
    shutdown: watch::Receiver<bool>,
    /// Memberships revoked anywhere; `None` once the channel closed (the server is stopping).
    revoked: Option<broadcast::Receiver<Revoked>>,
    /// The revocation generation last looked at (see `Revocations::generation`).
    revocations_seen: u64,
    /// Some revocations were missed (channel overrun): every website is re-checked against
    /// the store before anything else is written. Cleared only once the check completed.
    recheck: bool,
    _slot: ConnectionGuard,
}

fn message(msg: &LiveMessage) -> Arc<Frame> {
    Frame::encode(msg, 0)
}

pub fn error_frame(code: ErrorCode, message: impl Into<String>, website_id: Option<&str>) -> Arc<Frame> {
    self::message(&LiveMessage::Error {
        code,
        message: message.into(),
        website_id: website_id.map(str::to_string),
    })
}

impl LiveSession {
    /// `watch` was taken before the principal was authenticated (see `Revocations::watch`).
    pub fn new(state: AppState, principal: Principal, slot: ConnectionGuard, watch: super::Watch) -> Self {
        let (tx, rx) = mpsc::channel(state.cfg.live.connection_queue.max(1));
        let sub = Subscriber { id: state.hub.next_subscriber_id(), tx, signal: Arc::new(ConnSignal::default()) };
        let every = Duration::from_secs(state.cfg.live.heartbeat_secs.clamp(1, 15));
        let mut heartbeat = interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shutdown = state.shutdown.subscribe();
        let revocations_seen = watch.generation;
        let revoked = Some(watch.rx);
        let expiry = expiry_of(&principal);
        Self {
            state,
            principal,
            expiry,
            sub,
            rx,
            delivered: HashMap::new(),
            written: HashMap::new(),
            ids: false,
            multi: false,
            pending: VecDeque::new(),
            heartbeat,
            shutdown,
            revoked,
            revocations_seen,
            recheck: false,
            _slot: slot,
        }
    }

    /// Labels every message with the position after it (`stream_cursor`), for SSE `id:`;
    /// `multi` when the stream carries several websites.
    pub fn label_messages(&mut self, multi: bool) {
        self.ids = true;
        self.multi = multi;
    }

    /// The user the stream runs for (`None` for a share link).
    pub fn user_id(&self) -> Option<i64> {
        self.principal.user_id()
    }

    /// Checks that the website exists and the principal may watch it (unknown and foreign ids
    /// look alike to anyone but a global admin; see `auth::website_visible`).
    pub async fn authorize(&self, website_id: &str) -> Result<(), AppError> {
        auth::may_watch(&self.state, &self.principal, website_id).await
    }

    /// `refresh` command: a new access token of the same user moves the stream's deadline.
    /// A token that does not verify is answered `error unauthorized`; the stream goes on until
    /// the old token expires.
    pub async fn refresh(&mut self, token: &str) {
        let Principal::User(current) = &self.principal else {
            self.pending.push_back(error_frame(ErrorCode::BadRequest, "a share link does not expire; nothing to refresh", None));
            return;
        };
        match auth::user_of_token(&self.state, token).await {
            Ok(fresh) if fresh.user.id == current.user.id => {
                self.principal = Principal::User(fresh);
                self.expiry = expiry_of(&self.principal);
            }
            Ok(_) => self.pending.push_back(error_frame(ErrorCode::Unauthorized, "that token belongs to another user", None)),
            Err(e) => self.pending.push_back(error_frame(ErrorCode::Unauthorized, e.to_string(), None)),
        }
    }

    /// Subscribes, queueing the start of the stream. Problems become `error` frames: the
    /// connection stays usable.
    pub async fn subscribe(&mut self, website_id: &str, cursor: Option<&str>) {
        let resume = match cursor.map(str::parse::<Cursor>).transpose() {
            Ok(c) => c,
            Err(e) => {
                self.pending.push_back(error_frame(ErrorCode::BadRequest, e.to_string(), Some(website_id)));
                return;
            }
        };
        if let Err(e) = self.authorize(website_id).await {
            let code = match e {
                AppError::Forbidden(_) => ErrorCode::Forbidden,
                AppError::NotFound(_) | AppError::UnknownWebsite(_) => ErrorCode::NotFound,
                _ => ErrorCode::BadRequest,
            };
            self.pending.push_back(error_frame(code, e.to_string(), Some(website_id)));
            return;
        }
        self.subscribe_authorized(website_id, resume).await;
    }

    /// Subscribes to a website the caller has already authorized.
    pub async fn subscribe_authorized(&mut self, website_id: &str, resume: Option<Cursor>) {
        if !self.delivered.contains_key(website_id) && self.delivered.len() >= self.state.cfg.live.max_subscriptions {
            let msg = format!("at most {} websites per connection", self.state.cfg.live.max_subscriptions);
            self.pending.push_back(error_frame(ErrorCode::BadRequest, msg, Some(website_id)));
            return;
        }
        self.state.hub.unsubscribe(website_id, self.sub.id);
        match self.state.hub.subscribe(website_id, self.sub.clone(), resume).await {
            Ok(Start::Replay { frames, cursor, stats }) => {
                self.delivered.insert(website_id.to_string(), cursor);
                // the client holds everything up to the cursor it resumed from
                if let Some(from) = resume {
                    self.written.insert(website_id.to_string(), from.0);
                }
                self.pending.extend(frames);
                self.pending.push_back(stats);
            }
            Ok(Start::Snapshot { gap, snapshot, cursor }) => {
                self.delivered.insert(website_id.to_string(), cursor);
                // covered again only once the snapshot itself has been handed out
                self.written.remove(website_id);
                if gap {
                    self.pending.push_back(message(&LiveMessage::Gap { website_id: website_id.to_string() }));
                }
                self.pending.push_back(snapshot);
            }
            Err(e) => {
                tracing::error!(error = %e, website_id, "subscribe failed");
                self.pending.push_back(error_frame(ErrorCode::BadRequest, "the store is unavailable; retry", Some(website_id)));
            }
        }
    }

    pub fn unsubscribe(&mut self, website_id: &str) {
        self.state.hub.unsubscribe(website_id, self.sub.id);
        self.delivered.remove(website_id);
        self.written.remove(website_id);
    }

    pub fn push(&mut self, frame: Arc<Frame>) {
        self.pending.push_back(frame);
    }

    /// The SSE `id:` of the message just handed out: the position after it, for every website
    /// whose base state the client holds.
    pub fn stream_cursor(&self) -> String {
        let mut c = StreamCursor::default();
        for (site, seq) in &self.written {
            c.set(site, Cursor(*seq));
        }
        if self.multi { c.to_list_string() } else { c.to_string() }
    }

    /// Moves the handed-out position past `frame`.
    fn hand_out(&mut self, frame: Arc<Frame>) -> Next {
        if !self.ids {
            return Next::Frame(frame);
        }
        match frame.kind {
            "snapshot" => {
                self.written.insert(frame.website_id.to_string(), frame.seq);
            }
            "event" | "stats" => {
                if let Some(w) = self.written.get_mut(&*frame.website_id) {
                    *w = (*w).max(frame.seq);
                }
            }
            _ => {}
        }
        Next::Frame(frame)
    }

    /// Whether a frame from the queue is new to this client (and records it as delivered).
    fn admit(&mut self, frame: &Frame) -> bool {
        let Some(delivered) = self.delivered.get_mut(&*frame.website_id) else {
            // unsubscribed meanwhile; connection-wide notices have no website
            return frame.website_id.is_empty();
        };
        let fresh = match frame.kind {
            "event" => frame.seq > *delivered,
            "stats" => frame.seq >= *delivered,
            _ => true,
        };
        if fresh && frame.seq > *delivered {
            *delivered = frame.seq;
        }
        fresh
    }

    /// The next thing to write if one is ready now, without waiting: lets a transport write
    /// everything that is ready (an event and its `stats`, a burst) with one flush.
    pub fn ready(&mut self) -> Option<Next> {
        let generation = self.state.revocations.generation();
        if generation != self.revocations_seen {
            self.revocations_seen = generation;
            self.take_revocations();
        }
        if self.expiry.as_ref().is_some_and(|e| e.deadline() <= Instant::now()) {
            self.expire();
        }
        if let Some(f) = self.pending.pop_front() {
            match f.kind {
                CLOSE => return Some(Next::Close("closed by an admin")),
                CLOSE_REVOKED => return Some(Next::Close("access revoked")),
                CLOSE_UNAUTHORIZED => return Some(Next::Close(UNAUTHORIZED)),
                _ => {}
            }
            return Some(self.hand_out(f));
        }
        if *self.shutdown.borrow() {
            return Some(Next::Close("server shutting down"));
        }
        while let Ok(f) = self.rx.try_recv() {
            if self.admit(&f) {
                return Some(self.hand_out(f));
            }
        }
        None
    }

    /// Waits for the next thing to write. Cancel-safe: nothing is lost if the future is dropped
    /// (an interrupted access re-check runs again on the next call).
    pub async fn next(&mut self) -> Next {
        loop {
            if self.recheck {
                self.recheck_access().await;
                self.recheck = false;
            }
            if let Some(next) = self.ready() {
                return next;
            }
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => {}
                _ = self.sub.signal.notify.notified() => self.on_signal(),
                frame = self.rx.recv() => match frame {
                    Some(f) if self.admit(&f) => return self.hand_out(f),
                    Some(_) => {}
                    None => return Next::Close("subscription closed"),
                },
                _ = self.heartbeat.tick() => {
                    return Next::Frame(message(&LiveMessage::Heartbeat { server_time: Utc::now() }));
                }
                _ = expiry(&mut self.expiry) => self.expire(),
                revoked = recv_revoked(&mut self.revoked) => match revoked {
                    Ok(r) => self.apply(r),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.recheck = true,
                    Err(broadcast::error::RecvError::Closed) => self.revoked = None,
                },
            }
        }
    }

    /// Applies every revocation announced so far, without waiting.
    fn take_revocations(&mut self) {
        loop {
            let Some(rx) = self.revoked.as_mut() else { return };
            match rx.try_recv() {
                Ok(r) => self.apply(r),
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.recheck = true,
                Err(broadcast::error::TryRecvError::Empty) => return,
                Err(broadcast::error::TryRecvError::Closed) => self.revoked = None,
            }
        }
    }

    /// Applies one revocation to this stream, if it concerns it.
    fn apply(&mut self, r: Revoked) {
        let user = match &self.principal {
            Principal::User(u) => Some((u.user.id, u.session_id.clone())),
            Principal::Share { .. } => None,
        };
        match r {
            Revoked::Membership { user_id, website_id } if user.as_ref().is_some_and(|(id, _)| *id == user_id) => {
                self.drop_website(&website_id)
            }
            Revoked::Website { website_id } => self.drop_website(&website_id),
            Revoked::Share { website_id } => {
                if matches!(&self.principal, Principal::Share { website_id: w, .. } if *w == website_id) {
                    self.end_unauthorized("this share link was revoked");
                }
            }
            Revoked::Session { session_id } if user.as_ref().is_some_and(|(_, sid)| *sid == session_id) => {
                self.end_unauthorized("you logged out")
            }
            Revoked::User { user_id } if user.as_ref().is_some_and(|(id, _)| *id == user_id) => {
                self.end_unauthorized("your login ended (password changed or account removed); log in again")
            }
            _ => {}
        }
    }

    /// The access token expired without a `refresh`.
    fn expire(&mut self) {
        self.expiry = None;
        self.end_unauthorized("the access token expired; refresh it and resume from your cursor");
    }

    /// Ends the stream: every subscription goes, nothing queued is written, and the client is
    /// told `error unauthorized` before the connection closes.
    fn end_unauthorized(&mut self, message: &str) {
        if self.pending.iter().any(|f| f.kind == CLOSE_UNAUTHORIZED) {
            return;
        }
        let sites: Vec<String> = self.delivered.keys().cloned().collect();
        for site in sites {
            self.unsubscribe(&site);
        }
        self.pending.clear();
        tracing::debug!(user_id = ?self.user_id(), "live stream ended: {message}");
        self.pending.push_back(error_frame(ErrorCode::Unauthorized, message, None));
        self.pending.push_back(close_marker(CLOSE_UNAUTHORIZED));
    }

    /// The user lost access to `website_id`: stop its stream with `error forbidden`. An SSE
    /// stream left without websites ends (its client would only reconnect into a `403`).
    fn drop_website(&mut self, website_id: &str) {
        if !self.delivered.contains_key(website_id) {
            return;
        }
        self.unsubscribe(website_id);
        // a snapshot or replay of it still waiting to be written goes too
        self.pending.retain(|f| &*f.website_id != website_id);
        tracing::debug!(user_id = ?self.user_id(), website_id, "access revoked; stream of the website stopped");
        self.pending.push_back(error_frame(ErrorCode::Forbidden, "your access to this website was revoked", Some(website_id)));
        if self.ids && self.delivered.is_empty() {
            self.pending.push_back(close_marker(CLOSE_REVOKED));
        }
    }

    /// Missed revocations (more than the channel holds): ask the store about every website.
    /// A store that cannot answer does not revoke anything (logged).
    async fn recheck_access(&mut self) {
        let login = match &self.principal {
            Principal::User(u) => {
                self.state.accounts.session(&u.session_id, Utc::now().timestamp_millis()).await.map(|s| s.is_some())
            }
            Principal::Share { token_hash, website_id } => {
                self.state.accounts.share_website(token_hash).await.map(|w| w.as_ref() == Some(website_id))
            }
        };
        match login {
            Ok(true) => {}
            Ok(false) => return self.end_unauthorized("this login or share link has ended"),
            Err(e) => return tracing::warn!(error = %e, "cannot re-check live access"),
        }
        let sites: Vec<String> = self.delivered.keys().cloned().collect();
        for site in sites {
            match auth::may_watch(&self.state, &self.principal, &site).await {
                Ok(()) => {}
                Err(AppError::Forbidden(_) | AppError::UnknownWebsite(_)) => self.drop_website(&site),
                Err(e) => tracing::warn!(error = %e, website_id = %site, "cannot re-check live access"),
            }
        }
    }

    fn on_signal(&mut self) {
        if self.sub.signal.closed.load(Ordering::Acquire) {
            self.pending.push_back(error_frame(ErrorCode::Closed, "an admin closed this website's live streams", None));
            self.pending.push_back(close_marker(CLOSE));
            return;
        }
        let lagged: Vec<String> =
            self.sub.signal.lagged.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        for site in lagged {
            if !self.delivered.contains_key(&site) {
                continue;
            }
            tracing::debug!(website_id = %site, "slow client: gap + snapshot");
            if let Some((snapshot, cursor)) = self.state.hub.resync(&site, self.sub.id) {
                self.delivered.insert(site.clone(), cursor);
                self.pending.push_back(message(&LiveMessage::Gap { website_id: site }));
                self.pending.push_back(snapshot);
            }
        }
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        for site in self.delivered.keys() {
            self.state.hub.unsubscribe(site, self.sub.id);
        }
    }
}
