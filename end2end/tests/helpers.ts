// Shared steps for the specs: logging in, finding the demo website, tracking events.
import { APIRequestContext, Page, expect } from "@playwright/test";
import { randomUUID } from "node:crypto";

export const ADMIN = { email: "admin@pulse.local", password: process.env.PULSE_DEMO_PASSWORD ?? "" };
const CHROME_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/** A fresh API token of the demo admin, from the login session global-setup started (its
 * refresh cookie is in every test's storage state; access tokens live only seconds here). */
export async function apiToken(request: APIRequestContext): Promise<string> {
  const r = await request.post("/api/auth/refresh");
  expect(r.status(), "the storage state carries the demo admin's refresh cookie").toBe(200);
  return (await r.json()).token as string;
}

export async function demoWebsite(request: APIRequestContext, token: string): Promise<string> {
  const r = await request.get("/api/websites", { headers: { Authorization: `Bearer ${token}` } });
  expect(r.status()).toBe(200);
  const sites: { id: string; name: string }[] = await r.json();
  const demo = sites.find((s) => s.name === "Pulse demo");
  expect(demo, "the demo website exists").toBeTruthy();
  return demo!.id;
}

/** Tracks one pageview as a fresh visitor; resolves once the server acknowledged (stored). */
export async function track(
  request: APIRequestContext,
  website: string,
  path: string,
  type = "pageview",
  extra: Record<string, unknown> = {},
) {
  const r = await request.post("/api/track", {
    headers: { "User-Agent": CHROME_UA, "Content-Type": "text/plain" },
    data: JSON.stringify({ website_id: website, type, url: `https://demo.example${path}`, visitor_id: randomUUID(), ...extra }),
  });
  expect(r.status(), await r.text()).toBe(202);
}

/** Opens the website list; the context is logged in already (global-setup's session). */
export async function openWebsites(page: Page) {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Websites" })).toBeVisible();
}

/** Logs in through the login form (tests of logging in itself, and other users). */
export async function uiLogin(page: Page, who = ADMIN) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("heading", { name: "Websites" })).toBeVisible();
}

/** Opens the Realtime tab and waits until the page is hydrated and the stream is live. */
export async function openRealtime(page: Page, website: string, query = "") {
  await page.goto(`/websites/${website}${query}`);
  await expect(page.getByTestId("realtime")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByTestId("status-bar")).toHaveAttribute("data-state", "live");
}

export function uniquePath(label: string) {
  return `/${label}-${randomUUID().slice(0, 8)}`;
}

export async function visitorCount(page: Page): Promise<number> {
  return Number(await page.getByTestId("visitor-count").innerText());
}
