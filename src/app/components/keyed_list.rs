//! `KeyedList`: the one keyed list of the live page — active pages, breakdowns, the feed and
//! the toasts all render through it. Each `<For>` over another row type or closure is another
//! copy of Leptos' keyed-diff and hydration code in the WASM (about 10 KB each before
//! compression); this one takes the rows' keys and a type-erased row builder, so the page
//! carries that code once. A row is built once, when its key appears, keeps its DOM while the
//! key stays, and moves with it.

use leptos::prelude::*;

#[component]
pub fn KeyedList(
    /// The rows' keys, in display order.
    #[prop(into)]
    keys: Signal<Vec<String>>,
    /// Builds the row of a key.
    row: Callback<String, AnyView>,
) -> impl IntoView {
    view! { <For each=move || keys.get() key=|k: &String| k.clone() children=move |k| row.run(k)/> }
}
