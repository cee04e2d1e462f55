// What a person sees on the Realtime page: events arriving live over WebSocket and SSE, and
// the stream recovering from a cut connection without losing an event.
import { expect, test } from "@playwright/test";
import { apiToken, demoWebsite, openRealtime, track, uiLogin, uniquePath, visitorCount } from "./helpers";

test("login is required and a wrong password is refused", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel("Email").fill("admin@pulse.local");
  await page.getByLabel("Password").fill("definitely wrong");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toContainText("wrong");
});

for (const transport of ["websocket", "sse"] as const) {
  test(`events arrive live over ${transport}`, async ({ page, request }) => {
    const token = await apiToken(request);
    const site = await demoWebsite(request, token);
    await uiLogin(page);
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

test("a cut connection turns the status amber or red, recovers, and misses no event", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  let blocked = false;
  await page.routeWebSocket(/\/api\/live\/ws/, (ws) => {
    if (blocked) ws.close({ code: 1011, reason: "cut by the test" });
    else ws.connectToServer();
  });
  await page.route("**/api/live/sse**", (route) => (blocked ? route.abort() : route.continue()));

  await uiLogin(page);
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
    await expect(page.locator(`[data-testid=feed-row][data-path="${path}"]`)).toHaveCount(1);
  }
});

test("an admin broadcast shows as a toast", async ({ page, request }) => {
  const token = await apiToken(request);
  const site = await demoWebsite(request, token);
  await uiLogin(page);
  await openRealtime(page, site);
  const r = await request.post(`/api/websites/${site}/broadcast`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { message: "Deploy in 5 minutes" },
  });
  expect(r.status()).toBe(200);
  await expect(page.getByTestId("toast")).toContainText("Deploy in 5 minutes");
});
