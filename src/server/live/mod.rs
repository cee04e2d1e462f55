//! Live transports (contract §2). `session` holds the transport-independent logic (subscribe,
//! resume, lag, heartbeat, close); `ws` and `sse` only encode its frames.

mod connections;
mod revocations;
mod session;
pub mod sse;
pub mod ws;
mod ws_upgrade;

/// Longest any live write may wait for the peer (a WebSocket flush, ping or close; an SSE
/// message handed to the response body): a peer that stops reading loses its connection and
/// slot, the server nothing.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub use connections::{ConnectionGuard, Connections};
pub use revocations::{Revocations, Revoked, Watch};
pub use session::{LiveSession, Next};
