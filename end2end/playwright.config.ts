// Playwright for Pulse: Debian's Chromium, no webServer block (`cargo leptos end-to-end`
// starts and stops the server), one worker so live counters are deterministic.
import { defineConfig, devices } from "@playwright/test";

export const baseURL = process.env.PULSE_E2E_BASE ?? "http://127.0.0.1:3217";
/** The demo admin's session, written by global-setup: every test starts logged in. */
export const storageStatePath = ".auth/admin.json";

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: "list",
  use: { baseURL, trace: "off", storageState: storageStatePath },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          args: [
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
          ],
        },
      },
    },
  ],
});
