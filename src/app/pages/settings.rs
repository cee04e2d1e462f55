//! Settings: the websites you manage (add one; each opens its own settings page), the users
//! (global admins: add with a password or a one-time setup link, delete) and your password.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::{hydrated, ActionResult, AppHeader, LoadError, BUTTON, BUTTON_DANGER, INPUT, SECTION};
use crate::app::server_fns::me;
use crate::app::settings_fns::{
    list_users, settings_websites, AddUser, AddWebsite, ChangePassword, RemoveUser,
};
use crate::app::json_codec::resource;

super::lazy_page!(SettingsRoute, SettingsPage);

#[component]
fn SettingsPage() -> impl IntoView {
    let me = resource(|| (), |_| me());
    view! {
        <AppHeader me/>
        <main class="mx-auto max-w-4xl space-y-8 px-4 py-8">
            <h1 class="text-2xl font-bold tracking-tight">"Settings"</h1>
            <WebsitesSection/>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.ok().filter(|m| m.is_admin).map(|m| view! { <UsersSection me=m.email/> })
                })}
            </Suspense>
            <PasswordSection/>
        </main>
    }
}

#[component]
fn WebsitesSection() -> impl IntoView {
    let add = ServerAction::<AddWebsite>::new();
    let sites = resource(move || add.version().get(), |_| settings_websites());
    // a new website opens its settings page, which shows its snippet
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(site)) = add.value().get() {
            navigate(&format!("/settings/websites/{}", site.id), Default::default());
        }
    });
    view! {
        <section class=SECTION aria-labelledby="websites-heading">
            <h2 id="websites-heading" class="text-lg font-semibold">"Websites"</h2>
            <Suspense fallback=|| view! { <p class="mt-3 text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sites.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-3 text-sm text-slate-600 dark:text-slate-300">"You manage no websites yet. Add one below."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-3 divide-y divide-slate-200 dark:divide-slate-800" data-testid="settings-websites">
                                {list.into_iter().map(|site| view! {
                                    <li class="flex items-center justify-between gap-3 py-3">
                                        <div class="min-w-0">
                                            <p class="truncate font-medium">{site.name.clone()}</p>
                                            <p class="truncate text-sm text-slate-500 dark:text-slate-400">{site.domain.clone()}" · "{site.timezone.clone()}</p>
                                        </div>
                                        <a href=format!("/settings/websites/{}", site.id) class="text-sm font-semibold text-indigo-600 hover:underline dark:text-indigo-400">
                                            "Edit, access and share →"
                                        </a>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=add attr:class="mt-5 grid gap-3 border-t border-slate-200 pt-5 sm:grid-cols-4 dark:border-slate-800">
                <h3 class="text-sm font-semibold sm:col-span-4">"Add a website"</h3>
                <label class="block text-sm font-medium">"Domain"
                    <input class=INPUT name="domain" placeholder="example.com" required/>
                </label>
                <label class="block text-sm font-medium">"Name"
                    <input class=INPUT name="name" placeholder="My shop"/>
                </label>
                <label class="block text-sm font-medium">"Time zone"
                    <input class=INPUT name="timezone" placeholder="UTC" value="UTC"/>
                </label>
                <div class="flex items-end"><button type="submit" class=BUTTON>"Add website"</button></div>
                <div class="sm:col-span-4"><ActionResult value=add.value() ok={|_| String::new()}/></div>
            </ActionForm>
        </section>
    }
}

/// `me`: the logged-in admin, who cannot delete their own account here.
#[component]
fn UsersSection(me: String) -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let ready = hydrated();
    let users = resource(move || (add.version().get(), remove.version().get()), |_| list_users());
    view! {
        <section class=SECTION aria-labelledby="users-heading" data-testid="users">
            <h2 id="users-heading" class="text-lg font-semibold">"Users"</h2>
            <Suspense fallback=|| ()>
                {move || { let me = me.clone(); Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-3 divide-y divide-slate-200 dark:divide-slate-800">
                                {list.into_iter().map(|u| {
                                    let id = u.id;
                                    let label = format!("Delete user {}", u.email);
                                    let is_me = u.email == me;
                                    view! {
                                        <li class="flex items-center justify-between gap-3 py-2">
                                            <span class="min-w-0 truncate">
                                                {u.email.clone()}
                                                {u.is_admin.then(|| view! { <span class="ml-2 rounded bg-indigo-100 px-1.5 py-0.5 text-xs font-semibold text-indigo-800 dark:bg-indigo-900 dark:text-indigo-200">"admin"</span> })}
                                                {u.pending_setup.then(|| view! { <span class="ml-2 rounded bg-amber-100 px-1.5 py-0.5 text-xs font-semibold text-amber-900 dark:bg-amber-900 dark:text-amber-100">"setup link not used yet"</span> })}
                                            </span>
                                            {(!is_me).then(|| view! {
                                                <button type="button" class=BUTTON_DANGER aria-label=label disabled=move || !ready.get()
                                                    on:click=move |_| { remove.dispatch(RemoveUser { user_id: id }); }>
                                                    "Delete"
                                                </button>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}}
            </Suspense>
            <ActionResult value=remove.value() ok={|_| "User deleted; their logins and live streams ended.".to_string()}/>
            <ActionForm action=add attr:class="mt-5 grid gap-3 border-t border-slate-200 pt-5 sm:grid-cols-4 dark:border-slate-800">
                <h3 class="text-sm font-semibold sm:col-span-4">"Add a user"</h3>
                <label class="block text-sm font-medium">"Email"
                    <input class=INPUT type="email" name="email" required/>
                </label>
                <label class="block text-sm font-medium">"Password"
                    <input class=INPUT type="password" name="password" autocomplete="new-password" placeholder="empty: send a setup link"/>
                </label>
                <label class="flex items-end gap-2 pb-2 text-sm font-medium">
                    <input type="checkbox" name="admin" value="true" class="h-4 w-4"/>"Global admin"
                </label>
                <div class="flex items-end"><button type="submit" class=BUTTON>"Add user"</button></div>
                <div class="sm:col-span-4" data-testid="add-user-result">
                    <ActionResult value=add.value() ok={|link: &Option<String>| match link {
                        Some(l) => format!("User added. Send them this one-time setup link (valid 7 days): {l}"),
                        None => "User added; they can log in with that password.".to_string(),
                    }}/>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn PasswordSection() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <section class=SECTION aria-labelledby="password-heading">
            <h2 id="password-heading" class="text-lg font-semibold">"Your password"</h2>
            <ActionForm action=change attr:class="mt-3 grid gap-3 sm:grid-cols-3">
                <label class="block text-sm font-medium">"Current password"
                    <input class=INPUT type="password" name="current" autocomplete="current-password" required/>
                </label>
                <label class="block text-sm font-medium">"New password"
                    <input class=INPUT type="password" name="new_password" autocomplete="new-password" minlength="8" required/>
                </label>
                <div class="flex items-end"><button type="submit" class=BUTTON>"Change password"</button></div>
                <div class="sm:col-span-3">
                    <ActionResult value=change.value() ok={|_| "Password changed. Your other logins have ended.".to_string()}/>
                </div>
            </ActionForm>
        </section>
    }
}
