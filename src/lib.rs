//! Pulse: realtime web analytics. Module list and the browser's `hydrate()` entry.
//!
//! `model` is shared by server and browser; `server` is compiled only with `ssr`; the UI in
//! `app` and the browser transport in `live_client` compile for both (SSR renders, hydrate runs).

#![recursion_limit = "256"]

pub mod app;
pub mod live_client;
pub mod model;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // panic messages in the browser console, in debug builds (release builds abort on panic)
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    // lazy: routes and the Analytics tab load their split-out WASM before they hydrate
    leptos::mount::hydrate_lazy(app::App);
}
