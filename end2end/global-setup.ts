// Waits until the server started by `cargo leptos end-to-end` answers /health, then logs the
// demo admin in once: the login's cookies (a short-lived access token and the refresh cookie)
// go to a storage state every test starts from; tests get fresh API tokens from it. (Logging
// in per test would trip the login rate limits, which is the server doing its job.)
import { request } from "@playwright/test";
import { baseURL, storageStatePath } from "./playwright.config";

export default async function globalSetup() {
  const deadline = Date.now() + 180_000;
  let last = "";
  let up = false;
  while (Date.now() < deadline && !up) {
    try {
      const r = await fetch(`${baseURL}/health`);
      up = r.ok;
      last = `status ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    if (!up) await new Promise((r) => setTimeout(r, 250));
  }
  if (!up) throw new Error(`Pulse did not answer ${baseURL}/health within 180 s (${last})`);

  const api = await request.newContext({ baseURL });
  const r = await api.post("/api/auth/login", {
    data: { email: "admin@pulse.local", password: process.env.PULSE_DEMO_PASSWORD ?? "" },
  });
  if (r.status() !== 200) throw new Error(`demo admin login failed: ${r.status()} ${await r.text()}`);
  await api.storageState({ path: storageStatePath });
  await api.dispose();
}
