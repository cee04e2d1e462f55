//! kill -9 durability, on whichever store the tests run on (`PULSE_TEST_STORE`): the real
//! binary takes events from concurrent clients, dies by SIGKILL mid-stream, and starts again
//! on the same data. Every event answered `202` is there, and live cursors keep increasing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pulse::model::LiveMessage;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `pulse` process, killed (SIGKILL) and reaped when dropped, so a failing test
/// leaves no server behind.
struct Running(Child);

impl Running {
    fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Starts `pulse serve` on the test's store and waits (≤ 30 s) until `/health` answers 200.
async fn spawn(dir: &std::path::Path, port: u16) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulse"));
    store_env(&mut cmd, dir);
    cmd.env("PULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Running(cmd.spawn().unwrap());
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/health")).send().await
            && r.status() == 200
        {
            return child;
        }
        assert!(Instant::now() < deadline, "pulse did not answer /health within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9_and_cursors_keep_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let site = seed(dir.path()).await;
    let port = free_port();
    let mut child = spawn(dir.path(), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = login(&http, &base).await;

    // the live cursor before the kill
    let mut ws = Ws::connect(&base, &token).await;
    ws.subscribe(&site, None).await;
    let cursor_before: u64 = match ws.next().await {
        LiveMessage::Snapshot { cursor, .. } => cursor.parse().unwrap(),
        m => panic!("{m:?}"),
    };

    // 8 clients post as fast as they can; the process is killed once 300 are acknowledged
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut clients = Vec::new();
    for c in 0..8 {
        let (http, base, site, acked) = (http.clone(), base.clone(), site.clone(), acked_tx.clone());
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"website_id": site, "url": format!("https://example.com/k{c}-{i}")});
                let Ok(r) = http.post(format!("{base}/api/track")).header("user-agent", CHROME).json(&body).send().await
                else {
                    return; // the server is gone
                };
                if r.status() != 202 {
                    continue;
                }
                let Ok(v) = r.json::<Value>().await else { return };
                if acked.send(v["id"].as_str().unwrap().to_string()).is_err() {
                    return;
                }
            }
        }));
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < 300 {
        assert!(Instant::now() < deadline, "only {} events acknowledged in 60 s", acked.len());
        acked.push(acked_rx.recv().await.unwrap());
    }
    child.kill_9();
    for c in clients {
        c.await.unwrap();
    }
    // answers that were already on their way count too
    while let Ok(id) = acked_rx.try_recv() {
        acked.push(id);
    }

    let _child = spawn(dir.path(), port).await;
    let token = login(&http, &base).await;
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/realtime/events/{site}?limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        for e in page["events"].as_array().unwrap() {
            stored.insert(e["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged events lost: {:?}", lost.len(), acked.len(), &lost[..lost.len().min(5)]);

    // a new event's cursor is past every cursor issued before the kill
    let mut ws = Ws::connect(&base, &token).await;
    ws.subscribe(&site, None).await;
    let _snapshot = ws.next().await;
    let r = http
        .post(format!("{base}/api/track"))
        .header("user-agent", CHROME)
        .json(&json!({"website_id": site, "url": "https://example.com/after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let after: u64 = loop {
        match ws.next().await {
            LiveMessage::Event { cursor, event, .. } if event.pathname == "/after" => break cursor.parse().unwrap(),
            _ => continue,
        }
    };
    assert!(after >= cursor_before + acked.len() as u64, "cursor {after} after the kill, {cursor_before} before it");
}
