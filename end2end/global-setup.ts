// Waits until the server started by `cargo leptos end-to-end` answers /health.
import { baseURL } from "./playwright.config";

export default async function globalSetup() {
  const deadline = Date.now() + 180_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${baseURL}/health`);
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Pulse did not answer ${baseURL}/health within 180 s (${last})`);
}
