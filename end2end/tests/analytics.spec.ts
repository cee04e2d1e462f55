// The Analytics tab as a person uses it: clicking rows to filter (the filters combine and live
// in the URL), following a shared link to the same view, exporting a list as CSV, numbers
// that move when an event is tracked, and the last 30 minutes agreeing with Realtime.
import { expect, test } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { apiToken, demoWebsite, openRealtime, openWebsites, track } from "./helpers";

test("filters from clicked rows combine in the URL, a shared URL shows the same, and a list exports as CSV", async ({ page, browser, request }) => {
  const site = await demoWebsite(request, await apiToken(request));
  const run = randomUUID().slice(0, 8);
  const path = `/analytics-${run}`;
  const source = `ref-${run}.example`;
  await track(request, site, path, "pageview", { referrer: `https://${source}/a` });
  await track(request, site, path, "pageview", { referrer: `https://${source}/b` });
  await track(request, site, path);
  await track(request, site, `/elsewhere-${run}`, "pageview", { referrer: `https://${source}/c` });

  await page.goto(`/websites/${site}?tab=analytics&period=today`);
  await expect(page.getByTestId("metric-pageviews")).toBeVisible();
  await page.locator(`[data-testid=top-pages] li[data-value="${path}"] a`).click();
  await expect(page).toHaveURL(new RegExp(`pathname=%2Fanalytics-${run}`));
  await expect(page.getByTestId("filter-chip")).toHaveCount(1);
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText("3");

  await page.locator(`[data-testid=top-sources] li[data-value="${source}"] a`).click();
  await expect(page.getByTestId("filter-chip")).toHaveCount(2);
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText("2");
  const shared = page.url();
  expect(shared).toContain(`source=${source}`);

  // someone else opens the link: the same view
  const other = await browser.newPage();
  await other.goto(shared);
  await expect(other.getByTestId("filter-chip")).toHaveCount(2);
  await expect(other.getByTestId("metric-pageviews-value")).toHaveText("2");
  await expect(other.getByTestId("metric-visitors-value")).toHaveText("2");
  await other.close();

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("csv-pages").click()]);
  expect(download.suggestedFilename()).toMatch(/^pulse-localhost-pages-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = readFileSync(await download.path(), "utf8");
  expect(csv.trim().split("\n")).toEqual(["value,visitors,pageviews", `${path},2,2`]);

  // removing a filter widens the view again
  await page.getByRole("link", { name: `Remove filter Source ${source}` }).click();
  await expect(page.getByTestId("filter-chip")).toHaveCount(1);
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText("3");
});

test("a tracked event moves the numbers of a range that includes now, with no reload", async ({ page, request }) => {
  const site = await demoWebsite(request, await apiToken(request));
  const run = randomUUID().slice(0, 8);
  const path = `/live-analytics-${run}`;
  await track(request, site, path);
  await page.goto(`/websites/${site}?tab=analytics&period=today&pathname=${encodeURIComponent(path)}`);
  await expect(page.getByTestId("analytics-live")).toBeVisible();
  await expect(page.getByTestId("realtime")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByTestId("status-bar")).toHaveAttribute("data-state", "live");
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText("1");
  await track(request, site, path);
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText("2");
  await expect(page.locator(`[data-testid=event-row][data-path="${path}"]`)).toHaveCount(2);
});

test("the last 30 minutes on Analytics show the pageviews Realtime shows", async ({ page, request }) => {
  const site = await demoWebsite(request, await apiToken(request));
  await track(request, site, `/agree-${randomUUID().slice(0, 8)}`);
  await openWebsites(page);
  await openRealtime(page, site);
  const label = (await page.getByTestId("minute-chart").getAttribute("aria-label")) ?? "";
  const realtime = Number(/(\d+) pageviews in the last 30 minutes/.exec(label)?.[1] ?? "0");
  expect(realtime).toBeGreaterThan(0);
  await page.getByRole("link", { name: "Analytics" }).click();
  await page.getByTestId("period-30m").click();
  await expect(page.getByTestId("metric-pageviews-value")).toHaveText(String(realtime));
});
