//! A restart rebuilds the live state from the store: same numbers, and cursors issued before
//! the restart still resume.

mod common;

use common::*;
use pulse::model::LiveMessage;

#[tokio::test]
async fn restart_shows_the_same_stats_and_resumes_old_cursors() {
    let ctx = setup().await;
    ctx.track("/a", "v1").await;
    ctx.track("/b", "v2").await;
    ctx.track("/b", "v1").await;
    let (ws, snapshot) = ctx.watch().await;
    let (before, cursor) = match snapshot {
        LiveMessage::Snapshot { stats, cursor, .. } => (stats, cursor),
        m => panic!("{m:?}"),
    };
    assert_eq!(before.current_visitors, 2);
    ctx.track("/c", "v3").await;
    drop(ws);

    let ctx = ctx.restart().await;

    let mut ws = ctx.ws().await;
    ws.subscribe(&ctx.site, Some(&cursor)).await;
    match ws.next().await {
        LiveMessage::Event { event, .. } => assert_eq!(event.pathname, "/c"),
        m => panic!("expected the missed event, got {m:?}"),
    }
    match ws.next().await {
        LiveMessage::Stats { stats, .. } => {
            assert_eq!(stats.current_visitors, 3);
            assert_eq!(stats.pageviews_last_30m, 4);
            assert_eq!(stats.active_pages.iter().map(|p| p.visitors).sum::<u64>(), 3);
        }
        m => panic!("{m:?}"),
    }
    match ctx.watch().await.1 {
        LiveMessage::Snapshot { stats, recent, .. } => {
            assert_eq!(stats.current_visitors, 3);
            assert_eq!(recent.len(), 4);
            assert_eq!(recent[0].pathname, "/c");
        }
        m => panic!("{m:?}"),
    }
}
