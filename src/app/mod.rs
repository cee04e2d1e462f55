//! The Leptos UI: the HTML shell, routes and pages. Rendered on the server (first paint
//! already populated), then hydrated and driven live by `live_client`.

mod components;
pub mod json_codec;
mod realtime_state;
mod pages;
pub mod analytics_fns;
pub mod server_fns;
pub mod settings_fns;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::Lazy;
use leptos_router::path;

use pages::{SharedPage, WebsitePage};

/// The HTML document around [`App`], rendered on the server only. The title is the same on
/// every page, so it is plain HTML here: the browser build carries no `leptos_meta` code.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    provide_meta_context();
    view! {
        <!DOCTYPE html>
        <html lang="en" class="h-full">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <title>"Pulse — realtime analytics"</title>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="h-full bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/") view={Lazy::<pages::WebsitesRoute>::new()}/>
                <Route path=path!("/login") view={Lazy::<pages::LoginRoute>::new()}/>
                <Route path=path!("/websites/:id") view=WebsitePage/>
                <Route path=path!("/settings") view={Lazy::<pages::SettingsRoute>::new()}/>
                <Route path=path!("/settings/websites/:id") view={Lazy::<pages::WebsiteSettingsRoute>::new()}/>
                <Route path=path!("/share/:token") view=SharedPage/>
                <Route path=path!("/setup/:token") view={Lazy::<pages::SetupRoute>::new()}/>
            </Routes>
        </Router>
    }
}
