//! One website's settings: name, domain, time zone and tracking rules; the snippet to copy;
//! who has access (grant and revoke); its read-only share link; and deleting it.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::{hydrated, ActionResult, AppHeader, LoadError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, INPUT, SECTION};
use crate::app::settings_fns::{
    website_access, AddMember, MakeShareLink, RemoveMember, RemoveShareLink, RemoveWebsite, SaveWebsite,
};
use crate::app::json_codec::resource;

super::lazy_page!(WebsiteSettingsRoute, WebsiteSettingsPage);

#[component]
fn WebsiteSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let save = ServerAction::<SaveWebsite>::new();
    let grant = ServerAction::<AddMember>::new();
    let revoke = ServerAction::<RemoveMember>::new();
    let share = ServerAction::<MakeShareLink>::new();
    let unshare = ServerAction::<RemoveShareLink>::new();
    let delete = ServerAction::<RemoveWebsite>::new();
    let data = resource(
        move || (id(), save.version().get(), grant.version().get(), revoke.version().get(), share.version().get(), unshare.version().get()),
        |(id, ..)| website_access(id),
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/settings", Default::default());
        }
    });
    let confirm_delete = RwSignal::new(false);
    let ready = hydrated();
    view! {
        <AppHeader/>
        <main class="mx-auto max-w-4xl space-y-8 px-4 py-8">
            <a href="/settings" class="text-sm text-slate-500 hover:underline dark:text-slate-400">"← Settings"</a>
            <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let w = match data.await {
                        Err(e) => return view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(w) => w,
                    };
                    let site = w.site.clone();
                    let site_id = site.id.clone();
                    let has_share = w.has_share;
                    let (id_save, id_grant, id_share, id_unshare, id_delete) =
                        (site_id.clone(), site_id.clone(), site_id.clone(), site_id.clone(), site_id.clone());
                    view! {
                        <h1 class="text-2xl font-bold tracking-tight" data-testid="settings-site-name">{site.name.clone()}</h1>

                        <section class=SECTION aria-labelledby="snippet-heading">
                            <h2 id="snippet-heading" class="text-lg font-semibold">"Tracking snippet"</h2>
                            <p class="mt-1 text-sm text-slate-600 dark:text-slate-300">"Paste it into the " <code>"<head>"</code> " of every page of " {site.domain.clone()} "."</p>
                            <label class="mt-3 block text-xs font-medium text-slate-500 dark:text-slate-400">"Snippet"
                                <textarea readonly rows="2" data-testid="snippet"
                                    class="mt-1 w-full rounded-lg border border-slate-200 bg-slate-50 p-2 font-mono text-xs text-slate-800 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-200">
                                    {w.snippet.clone()}
                                </textarea>
                            </label>
                        </section>

                        <section class=SECTION aria-labelledby="site-heading">
                            <h2 id="site-heading" class="text-lg font-semibold">"Website"</h2>
                            <ActionForm action=save attr:class="mt-3 grid gap-3 sm:grid-cols-2">
                                <input type="hidden" name="website_id" value=id_save/>
                                <label class="block text-sm font-medium">"Name"
                                    <input class=INPUT name="name" value=site.name.clone()/>
                                </label>
                                <label class="block text-sm font-medium">"Domain"
                                    <input class=INPUT name="domain" value=site.domain.clone() required/>
                                </label>
                                <label class="block text-sm font-medium">"Time zone (reports' day boundaries)"
                                    <input class=INPUT name="timezone" value=site.timezone.clone()/>
                                </label>
                                <label class="block text-sm font-medium">"Other allowed page hosts"
                                    <input class=INPUT name="allowed_hostnames" value=site.allowed_hostnames.join(", ") placeholder="shop.example.net, *.cdn.example"/>
                                    <span class="mt-1 block text-xs font-normal text-slate-500 dark:text-slate-400">"Events from any other host are refused. The domain and its subdomains are always allowed; * allows any."</span>
                                </label>
                                <label class="block text-sm font-medium sm:col-span-2">"Query parameters kept in stored URLs (besides utm_*)"
                                    <input class=INPUT name="url_params" value=site.url_params.join(", ") placeholder="page, q"/>
                                    <span class="mt-1 block text-xs font-normal text-slate-500 dark:text-slate-400">"Every other parameter is dropped before storing, so tokens or emails in URLs never reach your dashboard."</span>
                                </label>
                                <div><button type="submit" class=BUTTON>"Save"</button></div>
                                <div class="sm:col-span-2"><ActionResult value=save.value() ok={|_| "Saved.".to_string()}/></div>
                            </ActionForm>
                        </section>

                        <section class=SECTION aria-labelledby="access-heading">
                            <h2 id="access-heading" class="text-lg font-semibold">"Access"</h2>
                            <p class="mt-1 text-sm text-slate-600 dark:text-slate-300">"Viewers watch this website; admins also manage its access, settings and share link."</p>
                            <ul class="mt-3 divide-y divide-slate-200 dark:divide-slate-800" data-testid="members">
                                {w.members.iter().map(|m| {
                                    let (sid, email) = (site_id.clone(), m.email.clone());
                                    let label = format!("Revoke access of {}", m.email);
                                    view! {
                                        <li class="flex items-center justify-between gap-3 py-2">
                                            <span class="min-w-0 truncate">{m.email.clone()}
                                                <span class="ml-2 text-sm text-slate-500 dark:text-slate-400">{m.role.as_str()}</span>
                                            </span>
                                            <button type="button" class=BUTTON_DANGER aria-label=label disabled=move || !ready.get()
                                                on:click=move |_| { revoke.dispatch(RemoveMember { website_id: sid.clone(), email: email.clone() }); }>
                                                "Revoke"
                                            </button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            <ActionResult value=revoke.value() ok={|_| "Access revoked; their live view of this website stopped.".to_string()}/>
                            <ActionForm action=grant attr:class="mt-4 grid gap-3 sm:grid-cols-3">
                                <input type="hidden" name="website_id" value=id_grant/>
                                <label class="block text-sm font-medium">"User's email"
                                    <input class=INPUT type="email" name="email" required/>
                                </label>
                                <label class="block text-sm font-medium">"Role"
                                    <select class=INPUT name="role">
                                        <option value="viewer">"viewer"</option>
                                        <option value="admin">"admin"</option>
                                    </select>
                                </label>
                                <div class="flex items-end"><button type="submit" class=BUTTON>"Grant access"</button></div>
                                <div class="sm:col-span-3"><ActionResult value=grant.value() ok={|m: &crate::model::Membership| format!("{} is now {}.", m.email, m.role.as_str())}/></div>
                            </ActionForm>
                        </section>

                        <section class=SECTION aria-labelledby="share-heading">
                            <h2 id="share-heading" class="text-lg font-semibold">"Share link"</h2>
                            <p class="mt-1 text-sm text-slate-600 dark:text-slate-300">
                                "A read-only link to this website's Realtime page, for a wall screen or a client without an account. It opens nothing else."
                            </p>
                            <p class="mt-2 text-sm" data-testid="share-status">
                                {if has_share { "A share link is active." } else { "No share link." }}
                            </p>
                            <div class="mt-3 flex flex-wrap gap-3">
                                <button type="button" class=BUTTON data-testid="share-create" disabled=move || !ready.get()
                                    on:click=move |_| { share.dispatch(MakeShareLink { website_id: id_share.clone() }); }>
                                    {if has_share { "Replace the link" } else { "Create a link" }}
                                </button>
                                {has_share.then(|| view! {
                                    <button type="button" class=BUTTON_SECONDARY data-testid="share-revoke" disabled=move || !ready.get()
                                        on:click=move |_| { unshare.dispatch(RemoveShareLink { website_id: id_unshare.clone() }); }>
                                        "Revoke the link"
                                    </button>
                                })}
                            </div>
                            <div class="mt-3" data-testid="share-result">
                                <ActionResult value=share.value() ok={|l: &crate::model::ShareLink| format!("Share this link (it is shown only now): {}", l.url)}/>
                                <ActionResult value=unshare.value() ok={|_| "Share link revoked; screens using it stopped.".to_string()}/>
                            </div>
                        </section>

                        <section class="rounded-2xl border border-red-200 bg-white p-5 shadow-sm dark:border-red-900 dark:bg-slate-900" aria-labelledby="delete-heading">
                            <h2 id="delete-heading" class="text-lg font-semibold text-red-700 dark:text-red-400">"Delete this website"</h2>
                            <p class="mt-1 text-sm text-slate-600 dark:text-slate-300">"Its events, access and share link are deleted for good."</p>
                            <div class="mt-3 flex gap-3">
                                <Show when=move || !confirm_delete.get()
                                    fallback={
                                        move || {
                                            let s = id_delete.clone();
                                            view! {
                                                <button type="button" class=BUTTON_DANGER data-testid="delete-confirm" disabled=move || !ready.get()
                                                    on:click=move |_| { delete.dispatch(RemoveWebsite { website_id: s.clone() }); }>
                                                    "Yes, delete it and its data"
                                                </button>
                                                <button type="button" class=BUTTON_SECONDARY disabled=move || !ready.get() on:click=move |_| confirm_delete.set(false)>"Cancel"</button>
                                            }
                                        }
                                    }>
                                    <button type="button" class=BUTTON_DANGER disabled=move || !ready.get() on:click=move |_| confirm_delete.set(true)>"Delete website…"</button>
                                </Show>
                            </div>
                            <ActionResult value=delete.value() ok={|_| "Deleted.".to_string()}/>
                        </section>
                    }.into_any()
                })}
            </Suspense>
        </main>
    }
}
