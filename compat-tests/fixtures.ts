// One fixture, three engines: every spec runs in Chromium (Playwright), Firefox ESR
// (geckodriver) and WebKitGTK (WebKitWebDriver + MiniBrowser) through the same `browser`.
import { test as base, expect, chromium, type Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebDriver } from './webdriver';

export type EngineName = 'chromium' | 'firefox' | 'webkit';

export interface Browser {
  engine: EngineName;
  /** Where this browser saves downloads. */
  downloadDir: string;
  /** Opens the test page and waits until Sluice's module is loaded. */
  open(): Promise<void>;
  /** Runs `fn(arg)` in the page (serialized like Playwright's `page.evaluate`). */
  evaluate<T, A = null>(fn: (arg: A) => T | Promise<T>, arg?: A): Promise<T>;
  /** Uncaught errors of the page and its service worker so far. */
  errors(): Promise<string[]>;
}

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic',
];

async function chromiumBrowser(baseURL: string, downloadDir: string) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const context = await browser.newContext({ acceptDownloads: true });
  const page: Page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(`page: ${e.message}`));
  // Save each download under the name the browser chose (from Content-Disposition).
  page.on('download', (d) => void d.saveAs(join(downloadDir, d.suggestedFilename())).catch(() => {}));
  return {
    goto: async (path: string) => void (await page.goto(baseURL + path)),
    evaluate: <T>(source: string, arg: unknown) => page.evaluate(`(${source})(${JSON.stringify(arg ?? null)})`) as Promise<T>,
    pageErrors,
    close: () => browser.close(),
  };
}

async function webdriverBrowser(engine: 'firefox' | 'webkit', baseURL: string, downloadDir: string) {
  let driver: WebDriver;
  if (engine === 'firefox') {
    const geckodriver = process.env.GECKODRIVER ?? join(homedir(), '.cargo/bin/geckodriver');
    driver = await WebDriver.start(geckodriver, (port) => ['--port', String(port)], {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: '/usr/bin/firefox-esr',
        args: ['-headless'],
        prefs: {
          'browser.download.dir': downloadDir,
          'browser.download.folderList': 2,
          'browser.download.useDownloadDir': true,
          'browser.download.always_ask_before_handling_new_types': false,
          'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream,application/pdf,text/plain',
          'pdfjs.disabled': true,
        },
      },
    });
  } else {
    // WebKitGTK saves to the XDG download directory; it needs a display (Xvfb).
    const config = mkdtempSync(join(tmpdir(), 'sluice-xdg-'));
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${downloadDir}"\n`);
    driver = await WebDriver.start('/usr/bin/WebKitWebDriver', (port) => [`--port=${port}`], { browserName: 'MiniBrowser' }, {
      ...process.env,
      XDG_CONFIG_HOME: config,
    });
  }
  return {
    goto: (path: string) => driver.goto(baseURL + path),
    evaluate: <T>(source: string, arg: unknown) => driver.evaluate<T>(source, arg),
    pageErrors: [] as string[],
    close: () => driver.close(),
  };
}

export const test = base.extend<{ engine: EngineName; driver: Browser }>({
  engine: ['chromium', { option: true }],
  driver: async ({ engine, baseURL }, use) => {
    const downloadDir = mkdtempSync(join(tmpdir(), `sluice-downloads-${engine}-`));
    const url = baseURL ?? 'http://127.0.0.1:8123';
    const raw = engine === 'chromium' ? await chromiumBrowser(url, downloadDir) : await webdriverBrowser(engine, url, downloadDir);
    const browser: Browser = {
      engine,
      downloadDir,
      open: async () => {
        await raw.goto('/test.html');
        await raw.evaluate('async () => { while (!window.sluiceReady) await new Promise((r) => setTimeout(r, 20)); }', null);
      },
      evaluate: (fn, arg) => raw.evaluate(fn.toString(), arg),
      errors: async () => [...raw.pageErrors, ...(await raw.evaluate<string[]>('() => window.sluiceErrors || []', null))],
    };
    try {
      await use(browser);
      // A test fails on any uncaught page or service-worker error.
      expect(await browser.errors(), 'uncaught errors in the page or the service worker').toEqual([]);
    } finally {
      await raw.close();
    }
  },
});

/** Waits until `name` in `dir` is complete (`size` bytes, no partial file beside it). */
export async function waitForFile(dir: string, name: string, size: number, timeoutMs = 240_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = readdirSync(dir);
    const partial = files.some((f) => f !== name && f.startsWith(name));
    if (files.includes(name) && !partial && statSync(join(dir, name)).size === size) return join(dir, name);
    if (Date.now() > deadline) throw new Error(`no complete ${name} (${size} bytes) in ${dir}: ${files.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export { expect };
