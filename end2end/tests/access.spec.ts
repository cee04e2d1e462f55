// Who sees what, as people would try it: logging out, a viewer who sees only their website, a
// share link that works and stops when revoked, markup in tracked data shown as text, and an
// access token that expires mid-stream (20 s in these runs) without a gap in the feed.
import { Browser, Page, expect, test } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { apiToken, demoWebsite, openRealtime, openWebsites, track, uiLogin, uniquePath } from "./helpers";

const anonymous = { storageState: { cookies: [], origins: [] } };

/** A new browser context with nobody logged in. */
async function freshPage(browser: Browser): Promise<Page> {
  const ctx = await browser.newContext(anonymous);
  return ctx.newPage();
}

test("logging out ends the login: the next page asks to log in again", async ({ browser }) => {
  const page = await freshPage(browser);
  await uiLogin(page);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
  await page.context().close();
});

test("a viewer sees only the websites they were given, set up entirely in Settings", async ({ page, browser, request }) => {
  const run = randomUUID().slice(0, 8);
  const viewer = { email: `viewer-${run}@example.com`, password: `viewer-pass-${run}` };
  const domain = `shop-${run}.example`;

  // the admin adds a website and a user, and grants the user access to that website only
  await page.goto("/settings");
  await page.getByLabel("Domain").fill(domain);
  await page.getByLabel("Name").fill(`Shop ${run}`);
  await page.getByRole("button", { name: "Add website" }).click();
  await expect(page.getByTestId("settings-site-name")).toHaveText(`Shop ${run}`);
  const snippet = await page.getByTestId("snippet").inputValue();
  expect(snippet).toMatch(/^<script defer src="http:\/\/[^"]+\/tracker\.js" data-website-id="[0-9a-f-]{36}"><\/script>$/);
  const siteId = /data-website-id="([^"]+)"/.exec(snippet)![1];

  await page.goto("/settings");
  const users = page.getByTestId("users");
  await users.getByLabel("Email").fill(viewer.email);
  await users.getByLabel("Password").fill(viewer.password);
  await users.getByRole("button", { name: "Add user" }).click();
  await expect(page.getByTestId("add-user-result")).toContainText("User added");

  await page.goto(`/settings/websites/${siteId}`);
  await page.getByLabel("User's email").fill(viewer.email);
  await page.getByRole("button", { name: "Grant access" }).click();
  await expect(page.getByTestId("members")).toContainText(viewer.email);

  // the viewer logs in and sees that website only
  const other = await freshPage(browser);
  await uiLogin(other, viewer);
  const cards = other.getByTestId("websites").locator("li");
  await expect(cards).toHaveCount(1);
  await expect(cards.first()).toContainText(`Shop ${run}`);
  // the demo website exists, but not for them
  const demo = await demoWebsite(request, await apiToken(request));
  await other.goto(`/websites/${demo}`);
  await expect(other.getByRole("alert")).toContainText("no access");
  await other.context().close();
});

test("a share link opens the Realtime page without login, live, and stops when revoked", async ({ page, browser, request }) => {
  const site = await demoWebsite(request, await apiToken(request));
  await page.goto(`/settings/websites/${site}`);
  await page.getByTestId("share-create").click();
  await expect(page.getByTestId("share-result")).toContainText("/share/");
  const url = /(https?:\/\/\S+\/share\/\S+)/.exec(await page.getByTestId("share-result").innerText())![1];

  const wall = await freshPage(browser);
  await wall.goto(url);
  await expect(wall.getByTestId("realtime")).toHaveAttribute("data-hydrated", "true");
  await expect(wall.getByTestId("status-bar")).toHaveAttribute("data-state", "live");
  const path = uniquePath("shared");
  await track(request, site, path);
  await expect(wall.locator(`[data-testid=feed-row][data-path="${path}"]`)).toBeVisible();
  // the link is no key to anything else
  const token = new URL(url).pathname.split("/").pop()!;
  const history = await wall.request.get(`/api/realtime/events/${site}`, { headers: { Authorization: `Bearer ${token}` } });
  expect(history.status()).toBe(403);

  await page.getByTestId("share-revoke").click();
  await expect(wall.getByTestId("share-ended")).toBeVisible({ timeout: 5_000 });
  const after = uniquePath("after-revoke");
  await track(request, site, after);
  await expect(wall.locator(`[data-testid=feed-row][data-path="${after}"]`)).toHaveCount(0);
  await wall.context().close();
});

test("an event whose path is markup shows as text and runs nothing", async ({ page, request }) => {
  const site = await demoWebsite(request, await apiToken(request));
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  await openWebsites(page);
  await openRealtime(page, site);
  const path = `/<img src=x onerror=alert(1)>-${randomUUID().slice(0, 8)}`;
  await track(request, site, path, "pageview", { title: "<script>alert(2)</script>" });
  // the URL parser percent-encodes what a browser would not send raw; either way it is text
  const row = page.getByTestId("feed-row").filter({ hasText: "onerror=alert(1)" });
  await expect(row.first()).toBeVisible();
  await expect(page.locator("[data-testid=live-feed] img")).toHaveCount(0);
  await expect(page.locator("[data-testid=live-feed] script")).toHaveCount(0);
  expect(dialogs).toBe(0);
});

for (const transport of ["websocket", "sse"] as const) {
  test(`an access token expiring mid-stream is refreshed with no gap in the feed (${transport})`, async ({ page, request }) => {
    test.setTimeout(120_000);
    const site = await demoWebsite(request, await apiToken(request));
    await openWebsites(page);
    await openRealtime(page, site, transport === "sse" ? "?transport=sse" : "");
    const bar = page.getByTestId("status-bar");
    const refreshes = async () => Number(await bar.getAttribute("data-refreshes"));
    // an event, then the page's 20 s token is renewed in-band; three times over
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) {
      const path = uniquePath(`refresh-${transport}-${i}`);
      paths.push(path);
      await track(request, site, path);
      await expect(page.locator(`[data-testid=feed-row][data-path="${path}"]`)).toHaveCount(1);
      const before = await refreshes();
      await expect.poll(refreshes, { timeout: 25_000 }).toBeGreaterThan(before);
    }
    const last = uniquePath(`refresh-${transport}-last`);
    paths.push(last);
    await track(request, site, last);
    for (const path of paths) {
      await expect(page.locator(`[data-testid=feed-row][data-path="${path}"]`)).toHaveCount(1);
    }
    // still the same page, live, and every resume was exact
    await expect(page).toHaveURL(new RegExp(`/websites/${site}`));
    await expect(bar).toHaveAttribute("data-state", "live");
    await expect(bar).toHaveAttribute("data-gaps", "0");
  });
}
