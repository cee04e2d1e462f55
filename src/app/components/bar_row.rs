//! `BarRow`: the inside of a list row drawn over a horizontal bar — the bar's width follows a
//! share and animates when it changes; the row's label and number sit on top. Shared by the
//! active pages and the live breakdowns.

use leptos::prelude::*;

#[component]
pub fn BarRow(
    /// The bar's width, as a percentage of the row.
    #[prop(into)]
    percent: Signal<f64>,
    /// Tailwind background classes of the bar (light and dark).
    bar: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <div
            class=format!("absolute inset-y-0 left-0 rounded-lg transition-all duration-500 {bar}")
            style=move || format!("width: {:.1}%", percent.get())
        ></div>
        <div class="relative flex items-center justify-between gap-3 px-3 py-1.5 text-sm">{children()}</div>
    }
}
