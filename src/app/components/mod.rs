//! Realtime widgets. Each takes signals and re-renders only what changed.

mod active_pages;
mod bar_row;
mod breakdowns;
mod keyed_list;
mod live_feed;
mod minute_chart;
mod series_chart;
mod status_bar;
mod toasts;
mod top_list;
mod visitor_counter;

pub use active_pages::ActivePages;
pub use bar_row::BarRow;
pub use breakdowns::Breakdowns;
pub use keyed_list::KeyedList;
pub use live_feed::LiveFeed;
pub use minute_chart::MinuteChart;
pub use series_chart::SeriesChart;
pub use status_bar::StatusBar;
pub use toasts::Toasts;
pub use top_list::{ListSpec, TopList};
pub use visitor_counter::VisitorCounter;

/// Shared card styling.
pub const CARD: &str = "rounded-2xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900";

/// "12s ago", "3m ago", "2h ago".
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    let secs = ((now_ms - then_ms) / 1000).max(0);
    match secs {
        0..=4 => "just now".to_string(),
        5..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_time_reads_naturally() {
        assert_eq!(super::relative_time(0, 2_000), "just now");
        assert_eq!(super::relative_time(0, 42_000), "42s ago");
        assert_eq!(super::relative_time(0, 180_000), "3m ago");
        assert_eq!(super::relative_time(0, 7_200_000), "2h ago");
        assert_eq!(super::relative_time(5_000, 0), "just now");
    }
}
