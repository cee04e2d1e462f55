//! Live transports (contract §2). `session` holds the transport-independent logic (subscribe,
//! resume, lag, heartbeat, close); `ws` and `sse` only encode its frames.

mod connections;
mod session;
pub mod sse;
pub mod ws;
mod ws_upgrade;

pub use connections::{ConnectionGuard, Connections};
pub use session::{LiveSession, Next};
