//! `/setup/{token}`: a new user chooses their password with the one-time link an admin sent
//! (a plain form posting to `/api/auth/setup`, so it works before hydration).

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{LoadError, BUTTON, INPUT};
use crate::app::settings_fns::setup_link_email;
use crate::app::json_codec::resource;

super::lazy_page!(SetupRoute, SetupPage);

#[component]
fn SetupPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let error = move || query.with(|q| q.get("error"));
    let email = resource(token, setup_link_email);
    view! {
        <main class="flex min-h-full items-center justify-center px-4 py-16">
            <div class="w-full max-w-sm">
                <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match email.await {
                            Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                            Ok(email) => view! {
                                <form method="post" action="/api/auth/setup"
                                    class="space-y-4 rounded-2xl border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-800 dark:bg-slate-900">
                                    <h1 class="text-lg font-semibold">"Welcome to Pulse"</h1>
                                    <p class="text-sm text-slate-600 dark:text-slate-300">"Choose a password for " <strong>{email}</strong> "."</p>
                                    {move || error().map(|e| view! {
                                        <p class="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-700 dark:bg-red-950 dark:text-red-300" role="alert">{e}</p>
                                    })}
                                    <input type="hidden" name="token" value=token/>
                                    <label class="block text-sm font-medium">"Password (at least 8 characters)"
                                        <input class=INPUT type="password" name="password" autocomplete="new-password" minlength="8" required/>
                                    </label>
                                    <button type="submit" class=BUTTON>"Set password and log in"</button>
                                </form>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
