// What a person sees on the Realtime page: events arriving live over WebSocket and SSE, and
// the stream recovering from a cut connection without losing an event.
import { expect, test } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { apiToken, demoWebsite, openRealtime, openWebsites, track, uiLogin, uniquePath, visitorCount } from "./helpers";

test.describe("without a session", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("login is required, a wrong password is refused, the right one lets you in", async ({ page }) => {
    await page.goto("/");
    await expect(page).toHaveURL(/\/login/);
    await page.getByLabel("Email").fill("admin@pulse.local");
    await page.getByLabel("Password").fill("definitely wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect(page.getByRole("alert")).toContainText("wrong");
    await uiLogin(page);
  });
});

for (const transport of ["websocket", "sse"] as const) {
  test(`events arrive live over ${transport}`, async ({ page, request }) => {
    const token = await apiToken(request);
    const site = await demoWebsite(request, token);
    await openWebsites(page);
    await openRealtime(page, site, transport === "sse" ? "?transport=sse" : "");
    await expect(page.getByTestId("transport")).toHaveText(transport === "sse" ? "SSE" : "WEBSOCKET");

    const before = await visitorCount(page);
    const path = uniquePath(transport);
    await track(request, site, path);

    const row = page.locator(`[data-testid=feed-row][data-path="${path}"]`);
    await expect(row).toBeVisible({ timeout: 5_000 });
    await expect(row).toHaveAttribute("data-fresh", "true");
    await expect(row).toHaveClass(/animate-flash/);
    await expect(page.getByTestId("visitor-count")).toHaveText(String(before + 1));
    await expect(page.locator(`[data-testid=active-pages] [data-path="${path}"]`)).toBeVisible();
  });
}

test("a cut connection turns the status amber or red, then resumes: each missed event arrives once, live, with no gap", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  let blocked = false;
  await page.routeWebSocket(/\/api\/live\/ws/, (ws) => {
    if (blocked) ws.close({ code: 1011, reason: "cut by the test" });
    else ws.connectToServer();
  });
  await page.route("**/api/live/sse**", (route) => (blocked ? route.abort() : route.continue()));

  await openWebsites(page);
  await openRealtime(page, site);

  blocked = true;
  const closed = await request.delete(`/api/websites/${site}/connections`, { headers: { Authorization: `Bearer ${token}` } });
  expect(closed.status()).toBe(200);
  await expect(page.getByTestId("status-bar")).toHaveAttribute("data-state", /reconnecting|offline/);

  const missed = [];
  for (let i = 0; i < 5; i++) {
    const path = uniquePath(`missed${i}`);
    missed.push(path);
    await track(request, site, path);
  }
  blocked = false;
  await expect(page.getByTestId("status-bar")).toHaveAttribute("data-state", "live", { timeout: 30_000 });
  for (const path of missed) {
    const row = page.locator(`[data-testid=feed-row][data-path="${path}"]`);
    await expect(row).toHaveCount(1);
    // replayed as a live event (it flashes), not repainted from a fresh snapshot after a gap
    await expect(row).toHaveAttribute("data-fresh", "true");
  }
  await expect(page.getByTestId("status-bar")).toHaveAttribute("data-gaps", "0");
});

test("switching to Analytics and back keeps the live state and its connection", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await openWebsites(page);
  await openRealtime(page, site);
  const path = uniquePath("tabs");
  await track(request, site, path);
  await expect(page.locator(`[data-testid=feed-row][data-path="${path}"]`)).toBeVisible();
  const messages = Number(await page.getByTestId("messages").innerText());
  expect(messages).toBeGreaterThan(0);

  await page.getByRole("link", { name: "Analytics" }).click();
  await expect(page).toHaveURL(/tab=analytics/);
  await expect(page.getByTestId("realtime")).toBeHidden();
  const whileAway = uniquePath("away");
  await track(request, site, whileAway);
  await page.getByRole("link", { name: "Realtime" }).click();
  await expect(page.getByTestId("realtime")).toBeVisible();
  // the same session: its message count went on, nothing was remounted from the first paint
  expect(Number(await page.getByTestId("messages").innerText())).toBeGreaterThanOrEqual(messages);
  await expect(page.locator(`[data-testid=feed-row][data-path="${path}"]`)).toHaveAttribute("data-fresh", "true");
  await expect(page.locator(`[data-testid=feed-row][data-path="${whileAway}"]`)).toHaveCount(1);
});

test("when the login is gone, the Realtime page goes to the login page instead of retrying", async ({ page, request, context }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await openWebsites(page);
  await openRealtime(page, site);
  await context.clearCookies(); // the session ended (expired, revoked, logged out elsewhere)
  const closed = await request.delete(`/api/websites/${site}/connections`, { headers: { Authorization: `Bearer ${token}` } });
  expect(closed.status()).toBe(200);
  await expect(page).toHaveURL(new RegExp(`/login\\?next=%2Fwebsites%2F${site}`), { timeout: 15_000 });
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
});

test("an admin broadcast shows as a toast", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await openWebsites(page);
  await openRealtime(page, site);
  const r = await request.post(`/api/websites/${site}/broadcast`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { message: "Deploy in 5 minutes" },
  });
  expect(r.status()).toBe(200);
  await expect(page.getByTestId("toast")).toContainText("Deploy in 5 minutes");
});

test("live breakdowns and the visitors line move as events arrive", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await openWebsites(page);
  await openRealtime(page, site);

  const tag = randomUUID().slice(0, 8);
  const source = `ref-${tag}.example`;
  const line = page.getByTestId("visitors-line");
  const pointsBefore = await line.getAttribute("points");
  await track(request, site, uniquePath("from-ref"), "pageview", { referrer: `https://${source}/post` });
  const row = page.locator(`[data-testid=breakdown-sources] [data-value="${source}"]`);
  await expect(row.getByTestId("breakdown-count")).toHaveText("1");
  await expect(line).not.toHaveAttribute("points", pointsBefore ?? "");

  // the same row counts on, live
  await track(request, site, uniquePath("from-ref"), "pageview", { referrer: `https://${source}/other` });
  await track(request, site, uniquePath("from-ref"), "pageview", { referrer: `https://www.${source}/` });
  await expect(row.getByTestId("breakdown-count")).toHaveText("3");
  await expect(row.getByTestId("breakdown-count")).toHaveAttribute("aria-label", "3 pageviews, 3 visitors");

  const name = `signup-${tag}`;
  await track(request, site, uniquePath("signup"), name);
  await expect(page.locator(`[data-testid=breakdown-events] [data-value="${name}"] [data-testid=breakdown-count]`)).toHaveText("1");
  await expect(page.locator("[data-testid=breakdown-devices] [data-value=desktop]")).toContainText("Desktop");
});
