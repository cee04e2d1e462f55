// The snippet on a real page of another origin: a website owner pastes the <script> tag, a
// visitor loads the page, navigates inside the single-page app and triggers a custom event;
// each shows up live on the owner's Realtime page.
import { expect, test } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { baseURL } from "../playwright.config";
import { apiToken, demoWebsite, openRealtime, openWebsites } from "./helpers";

const CHROME_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

test("tracker.js on another origin sends a pageview, an SPA navigation and a custom event that appear live", async ({ page, request, browser }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await openWebsites(page);
  await openRealtime(page, site);

  const run = randomUUID().slice(0, 8);
  // the tracked website: a static page served by this test on a port (so an origin) of its
  // own; it is a local address like Pulse's, so the tag opts in with data-allow-localhost
  const html = `<!doctype html><html><head><title>Shop ${run}</title>
    <script defer src="${baseURL}/tracker.js" data-website-id="${site}" data-allow-localhost></script></head>
    <body><h1>Shop</h1></body></html>`;
  // a visitor's browser: its own context (no Pulse cookie) and an ordinary user agent
  const server = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const visitor = await browser.newContext({ userAgent: CHROME_UA, storageState: { cookies: [], origins: [] } });
  const shop = await visitor.newPage();
  await shop.goto(`${origin}/landing-${run}`);

  const row = (path: string) => page.locator(`[data-testid=feed-row][data-path="${path}"]`);
  await expect(row(`/landing-${run}`)).toBeVisible({ timeout: 10_000 });
  await expect(row(`/landing-${run}`)).toHaveAttribute("data-fresh", "true");

  await shop.evaluate((p) => history.pushState({}, "", p), `/checkout-${run}`);
  await expect(row(`/checkout-${run}`)).toBeVisible({ timeout: 10_000 });

  await shop.evaluate(() => (window as any).pulse.track("signup", { plan: "pro" }));
  const signup = row(`/checkout-${run}`).filter({ hasText: "signup" });
  await expect(signup).toHaveCount(1, { timeout: 10_000 });
  await visitor.close();
  server.close();
});
