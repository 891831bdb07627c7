import { defineConfig } from '@playwright/test';
import type { EngineName } from './compat-tests/fixtures';

// One project per engine: Chromium through Playwright, Firefox ESR and WebKitGTK through
// W3C WebDriver; Playwright's own WebKit and Safari (safaridriver) where they exist (macOS),
// elsewhere their tests skip as "not available" (see compat-tests/fixtures.ts).
// `cargo xtask test` builds dist/, installs the browsers, runs this under Xvfb and writes the
// compatibility matrix from its JSON report.
const port = Number(process.env.SLUICE_TEST_PORT ?? 8123);
const engines: EngineName[] = ['chromium', 'firefox', 'webkit', 'playwright-webkit', 'safari'];

export default defineConfig({
  testDir: './compat-tests/specs',
  outputDir: './target/playwright',
  timeout: 300_000,
  workers: 1,
  fullyParallel: false,
  reporter: [['list']],
  use: { baseURL: `http://127.0.0.1:${port}` },
  projects: engines.map((engine) => ({ name: engine, use: { engine } })),
  webServer: {
    command: `cargo xtask serve --port ${port}`,
    url: `http://127.0.0.1:${port}/test.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 300_000,
  },
});
