// The live protocol as a browser's own WebSocket sees it: a snapshot larger than one frame
// (the server splits messages over 4 KiB into continuation frames) arrives as one message,
// with multi-byte text intact.
import { expect, test } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { apiToken, demoWebsite, openWebsites } from "./helpers";

test("a browser WebSocket receives a large snapshot whole", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  const run = randomUUID().slice(0, 8);
  const titles: string[] = [];
  for (let i = 0; i < 110; i++) {
    const title = `Café ${run} №${i} ✓ naïve`;
    const r = await request.post("/api/track", {
      headers: { "Content-Type": "application/json" },
      data: { website_id: site, url: `https://demo.example/large-${run}-${i}`, title, visitor_id: `v-${run}-${i % 5}` },
    });
    expect(r.status(), await r.text()).toBe(202);
    titles.push(title);
  }
  await openWebsites(page); // the session cookie authenticates the WebSocket

  const snapshot = await page.evaluate(
    (website) =>
      new Promise<{ bytes: number; titles: string[] }>((resolve, reject) => {
        const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/api/live/ws`);
        const timer = setTimeout(() => reject(new Error("no snapshot within 10 s")), 10_000);
        ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", website_id: website }));
        ws.onmessage = (m) => {
          const msg = JSON.parse(m.data);
          if (msg.type !== "snapshot") return;
          clearTimeout(timer);
          ws.close();
          resolve({ bytes: m.data.length, titles: msg.recent.map((e: { title?: string }) => e.title ?? "") });
        };
        ws.onerror = () => reject(new Error("websocket error"));
      }),
    site,
  );

  expect(snapshot.bytes).toBeGreaterThan(4 * 4096); // several frames' worth
  const ours = snapshot.titles.filter((t) => t.includes(run));
  expect(ours.length).toBeGreaterThanOrEqual(100);
  expect(ours).toEqual(titles.slice().reverse().slice(0, ours.length)); // newest first, exact text
});
