//! Pages: login, website list, and a website's Realtime / Analytics tabs.

mod login;
mod realtime;
mod website;
mod websites;

pub use login::LoginPage;
pub use website::WebsitePage;
pub use websites::WebsitesPage;

use leptos::prelude::*;

/// Top bar shared by the logged-in pages.
#[component]
pub fn AppHeader() -> impl IntoView {
    let me = Resource::new(|| (), |_| crate::app::server_fns::whoami());
    view! {
        <header class="border-b border-slate-200 bg-white/80 backdrop-blur dark:border-slate-800 dark:bg-slate-900/80">
            <div class="mx-auto flex max-w-6xl items-center justify-between px-4 py-3">
                <a href="/" class="flex items-center gap-2 text-lg font-bold tracking-tight">
                    <span class="inline-block h-3 w-3 rounded-full bg-emerald-500"></span>
                    "Pulse"
                </a>
                <div class="flex items-center gap-4 text-sm">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.await.ok().map(|email| view! {
                                <span class="hidden text-slate-500 sm:inline dark:text-slate-400">{email}</span>
                            })
                        })}
                    </Suspense>
                    <form method="post" action="/api/auth/logout">
                        <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800">
                            "Log out"
                        </button>
                    </form>
                </div>
            </div>
        </header>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="mx-auto max-w-xl px-4 py-24 text-center">
            <h1 class="text-3xl font-bold">"Page not found"</h1>
            <p class="mt-4"><a class="text-indigo-600 underline dark:text-indigo-400" href="/">"Back to your websites"</a></p>
        </main>
    }
}

/// A failed load, said plainly.
#[component]
pub fn LoadError(message: String) -> impl IntoView {
    view! {
        <div class="rounded-xl border border-red-300 bg-red-50 p-4 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200" role="alert">
            {message}
        </div>
    }
}
