//! Login page: a plain HTML form posting to `/api/auth/login`, so it works before hydration.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

super::lazy_page!(LoginRoute, LoginPage);

#[component]
fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.with(|q| q.get("error"));
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_string()));
    let input = "mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-slate-900 shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100";
    view! {
        <main class="flex min-h-full items-center justify-center px-4 py-16">
            <div class="w-full max-w-sm">
                <div class="mb-8 text-center">
                    <span class="inline-flex items-center gap-2 text-2xl font-bold tracking-tight">
                        <span class="inline-block h-3.5 w-3.5 animate-pulse rounded-full bg-emerald-500"></span>
                        "Pulse"
                    </span>
                    <p class="mt-2 text-sm text-slate-500 dark:text-slate-400">"Realtime analytics, pushed live."</p>
                </div>
                <form method="post" action="/api/auth/login"
                    class="space-y-4 rounded-2xl border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-800 dark:bg-slate-900">
                    <h1 class="text-lg font-semibold">"Log in"</h1>
                    {move || error().map(|e| view! {
                        <p class="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-700 dark:bg-red-950 dark:text-red-300" role="alert">
                            {if e == "rate_limited" { "Too many attempts. Wait a minute, then try again." } else { "Email or password is wrong." }}
                        </p>
                    })}
                    <input type="hidden" name="next" value=next/>
                    <label class="block text-sm font-medium">
                        "Email"
                        <input class=input type="email" name="email" autocomplete="username" required/>
                    </label>
                    <label class="block text-sm font-medium">
                        "Password"
                        <input class=input type="password" name="password" autocomplete="current-password" required/>
                    </label>
                    <button type="submit"
                        class="w-full rounded-lg bg-indigo-600 px-4 py-2 font-semibold text-white hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/50">
                        "Log in"
                    </button>
                </form>
            </div>
        </main>
    }
}
