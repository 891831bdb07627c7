// One fixture, every engine: each spec runs in Chromium (Playwright), Firefox (geckodriver),
// WebKitGTK (WebKitWebDriver + MiniBrowser), and, where they exist (macOS), Playwright's own
// WebKit and Safari (safaridriver). An engine that is not on this machine skips every test
// with a "not available" reason, which the matrix shows; the first three must always run.
import { test as base, expect, chromium, webkit, type BrowserType, type CDPSession, type Download, type Page } from '@playwright/test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { WebDriver } from './webdriver';

export type EngineName = 'chromium' | 'firefox' | 'webkit' | 'playwright-webkit' | 'safari';
/** The id of a row of the compatibility matrix (one of compat-tests/rows.json). */
export type Row = string;

export interface Browser {
  engine: EngineName;
  /** The browser's name and version, as it reports them. */
  version: string;
  /** Where this browser saves downloads. */
  downloadDir: string;
  /** Opens the test page and waits until Sluice's module is loaded. */
  open(): Promise<void>;
  /** Navigates to `path` (relative to the test server) or an absolute URL. */
  goto(path: string): Promise<void>;
  /** Runs `fn(arg)` in the page (serialized like Playwright's `page.evaluate`). */
  evaluate<T, A = null>(fn: (arg: A) => T | Promise<T>, arg?: A): Promise<T>;
  /** Uncaught errors of the page and its service worker so far. */
  errors(): Promise<string[]>;
  /**
   * Closes the page (its tab or window) the way a user would, and continues in a new blank one:
   * `goto`/`open` then use the new page.
   */
  closePage(): Promise<void>;
  /** Opens a new tab (which then is the page `evaluate` runs in); returns its handle. */
  newTab(): Promise<string>;
  /** The handle of the tab `evaluate` runs in. */
  currentTab(): Promise<string>;
  /** Continues in tab `handle`. */
  switchTab(handle: string): Promise<void>;
  /** Closes tab `handle` the way a user would, and continues in tab `then`. */
  closeTab(handle: string, then: string): Promise<void>;
  /** Saves a PNG of the viewport. */
  screenshot(file: string): Promise<void>;
  /**
   * When the browser finished saving download `name` (`Date.now()`; rejects if it failed), where
   * the automation reports it (Playwright); null elsewhere (then look at `downloadDir`).
   */
  downloadFinished(name: string): Promise<number> | null;
  /**
   * Cancels download `name` in the browser's own download manager, as its download list's
   * Cancel does; says how. Null where the automation cannot (WebDriver has no such command).
   */
  cancelDownload: ((name: string) => Promise<string>) | null;
  /**
   * Gets the service worker stopped, the way this engine allows; says how. Chromium: at once,
   * through DevTools. Firefox: at once, as about:debugging's Stop does (chrome context). WebKit:
   * away from the page (it stops a service worker that has no clients), then the test page again.
   */
  stopServiceWorkers(): Promise<string>;
  /**
   * Asks the engine to collect garbage; says how. Playwright's Chromium: DevTools
   * `HeapProfiler.collectGarbage`. Elsewhere: a burst of short-lived allocations in the page.
   */
  collectGarbage(): Promise<string>;
  /** A DevTools protocol session with the whole browser, where the automation has one (Playwright's Chromium). */
  cdp: (() => Promise<CDPSession>) | null;
  /**
   * Reloads the page bypassing the cache and the service worker (Shift+Reload: DevTools
   * `Page.reload` with `ignoreCache`), where the automation can (Playwright's Chromium); null elsewhere.
   */
  hardReload: (() => Promise<void>) | null;
  /**
   * Turns DevTools' "Bypass for network" on or off for the page (its requests skip the service
   * worker: DevTools `Network.setBypassServiceWorker`), where the automation can (Playwright's Chromium).
   */
  bypassServiceWorker: ((bypass: boolean) => Promise<void>) | null;
}

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic',
];
const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const CHROMEDRIVER = '/usr/bin/chromedriver';
const DEBIAN_FIREFOX = '/usr/bin/firefox-esr';
const WEBKITGTK_DRIVER = '/usr/bin/WebKitWebDriver';
const SAFARI_DRIVER = '/usr/bin/safaridriver';

/** Why `engine` cannot run on this machine, or null when it can. */
function unavailable(engine: EngineName): string | null {
  const installed = (type: BrowserType) => {
    try {
      return existsSync(type.executablePath());
    } catch {
      return false; // a platform Playwright has no build for
    }
  };
  if (engine === 'playwright-webkit' && !installed(webkit)) {
    return "not available: Playwright's WebKit is not installed (macOS: npx playwright install webkit)";
  }
  if (engine === 'safari' && (process.platform !== 'darwin' || !existsSync(SAFARI_DRIVER))) {
    return 'not available: Safari runs on macOS only (safaridriver)';
  }
  return null;
}

async function playwrightBrowser(type: BrowserType, baseURL: string, downloadDir: string, chromiumArgs: string[] = []) {
  const isChromium = type === chromium;
  const browser = await type.launch(
    isChromium ? { executablePath: existsSync(DEBIAN_CHROMIUM) ? DEBIAN_CHROMIUM : undefined, args: [...CHROMIUM_ARGS, ...chromiumArgs] } : {},
  );
  const context = await browser.newContext({ acceptDownloads: true });
  const pageErrors: string[] = [];
  const finished = new Map<string, Promise<number>>();
  const started = new Map<string, Download>();
  const awaited = new Map<string, (d: Download) => void>();
  /** Download `name` once the browser started it (15 s at most). */
  const startedDownload = (name: string) =>
    started.get(name) ?? new Promise<Download>((resolve, reject) => {
      awaited.set(name, resolve);
      setTimeout(() => reject(new Error(`the browser did not start downloading ${name} in 15 s`)), 15_000);
    });
  const newPage = async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`page: ${e.message}`));
    // Save each download under the name the browser chose (from Content-Disposition).
    page.on('download', (d) => {
      const done = d.path().then(() => Date.now());
      done.catch(() => {});
      finished.set(d.suggestedFilename(), done);
      started.set(d.suggestedFilename(), d);
      awaited.get(d.suggestedFilename())?.(d);
      // Then Playwright's own copy goes: it keeps each download until the run ends, and a
      // `cargo xtask bench` saves hundreds of GB (it filled the disk mid-run).
      void d.saveAs(join(downloadDir, d.suggestedFilename())).then(() => d.delete()).catch(() => {});
    });
    return page;
  };
  let page: Page = await newPage();
  const handles = new WeakMap<Page, string>();
  let tabs = 0;
  const tabOf = (p: Page) => {
    if (!handles.has(p)) handles.set(p, `tab-${tabs++}`);
    return handles.get(p)!;
  };
  const pageOf = (handle: string) => {
    const found = context.pages().find((p) => handles.get(p) === handle);
    if (!found) throw new Error(`no tab ${handle}`);
    return found;
  };
  let bypassSession: CDPSession | null = null;
  const stopServiceWorkers = async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await cdp.detach();
    return 'DevTools protocol ServiceWorker.stopAllWorkers';
  };
  return {
    version: `${isChromium ? 'Chromium' : 'Playwright WebKit'} ${browser.version()}`,
    goto: async (url: string) => void (await page.goto(url)),
    evaluate: <T>(source: string, arg: unknown) => page.evaluate(`(${source})(${JSON.stringify(arg ?? null)})`) as Promise<T>,
    screenshot: async (file: string) => void (await page.screenshot({ path: file, fullPage: true })),
    closePage: async () => {
      const old = page;
      page = await newPage();
      await old.close();
    },
    newTab: async () => {
      page = await newPage();
      return tabOf(page);
    },
    currentTab: async () => tabOf(page),
    switchTab: async (handle: string) => {
      page = pageOf(handle);
    },
    closeTab: async (handle: string, then: string) => {
      await pageOf(handle).close();
      page = pageOf(then);
    },
    stopServiceWorkers: isChromium ? stopServiceWorkers : null,
    collectGarbage: isChromium
      ? async () => {
          const session = await context.newCDPSession(page);
          await session.send('HeapProfiler.collectGarbage');
          await session.detach();
          return 'DevTools HeapProfiler.collectGarbage';
        }
      : null,
    downloadFinished: (name: string) => finished.get(name) ?? null,
    cancelDownload: async (name: string) => {
      await (await startedDownload(name)).cancel();
      return isChromium ? 'Playwright download.cancel() (DevTools Browser.cancelDownload)' : 'Playwright download.cancel()';
    },
    cdp: isChromium ? () => browser.newBrowserCDPSession() : null,
    hardReload: isChromium
      ? async () => {
          const session = await context.newCDPSession(page);
          const loaded = page.waitForEvent('load');
          await session.send('Page.reload', { ignoreCache: true });
          await loaded;
          await session.detach();
        }
      : null,
    bypassServiceWorker: isChromium
      ? async (bypass: boolean) => {
          // The setting lasts as long as its session: kept until it is turned off.
          bypassSession ??= await context.newCDPSession(page);
          await bypassSession.send('Network.enable');
          await bypassSession.send('Network.setBypassServiceWorker', { bypass });
          if (!bypass) {
            await bypassSession.detach();
            bypassSession = null;
          }
        }
      : null,
    pageErrors,
    dismissedPrompts: [] as string[],
    close: () => browser.close(),
  };
}

async function webdriverBrowser(
  engine: 'chromium' | 'firefox' | 'webkit' | 'safari',
  baseURL: string,
  downloadDir: string,
  firefoxPrefs: object,
  automaticDownloads: boolean,
) {
  let driver: WebDriver;
  if (engine === 'chromium') {
    // Chromium as a user runs it: tabs behind the front one are hidden (Playwright keeps every
    // page visible and active).
    driver = await WebDriver.start(CHROMEDRIVER, (port) => [`--port=${port}`], {
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: DEBIAN_CHROMIUM,
        args: ['--headless=new', ...CHROMIUM_ARGS],
        prefs: {
          'download.default_directory': downloadDir,
          'download.prompt_for_download': false,
          // 1: allowed; unset, a page's second automatic download asks the user first, and the
          // automation cannot answer: the download is refused, as a new user who says no.
          ...(automaticDownloads ? { 'profile.default_content_setting_values.automatic_downloads': 1 } : {}),
        },
      },
    });
  } else if (engine === 'firefox') {
    const geckodriver = process.env.GECKODRIVER ?? join(homedir(), '.cargo/bin/geckodriver');
    // System access: the chrome context, where the fixture stops service workers as
    // about:debugging's "Stop" does.
    driver = await WebDriver.start(geckodriver, (port) => ['--port', String(port), '--allow-system-access'], {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        ...(existsSync(DEBIAN_FIREFOX) ? { binary: DEBIAN_FIREFOX } : {}),
        args: ['-headless'],
        prefs: {
          'browser.download.dir': downloadDir,
          'browser.download.folderList': 2,
          'browser.download.useDownloadDir': true,
          'browser.download.always_ask_before_handling_new_types': false,
          'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream,application/pdf,text/plain',
          'pdfjs.disabled': true,
          ...firefoxPrefs,
        },
      },
    });
  } else if (engine === 'webkit') {
    // WebKitGTK saves to the XDG download directory; it needs a display (Xvfb).
    const config = mkdtempSync(join(tmpdir(), 'sluice-xdg-'));
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${downloadDir}"\n`);
    driver = await WebDriver.start(WEBKITGTK_DRIVER, (port) => [`--port=${port}`], { browserName: 'MiniBrowser' }, {
      ...process.env,
      XDG_CONFIG_HOME: config,
    });
  } else {
    // Safari saves to ~/Downloads; safaridriver needs `safaridriver --enable` once.
    driver = await WebDriver.start(SAFARI_DRIVER, (port) => ['-p', String(port)], { browserName: 'safari' });
  }
  const name = { chromium: 'Chromium (chromedriver)', firefox: 'Firefox', webkit: 'WebKitGTK MiniBrowser', safari: 'Safari' }[engine];
  return {
    version: `${name} ${driver.browserVersion}`,
    goto: (url: string) => driver.goto(url),
    evaluate: <T>(source: string, arg: unknown) => driver.evaluate<T>(source, arg),
    screenshot: (file: string) => driver.screenshot(file),
    closePage: () => driver.closeWindow(),
    newTab: () => driver.newTab(),
    currentTab: () => driver.currentWindow(),
    switchTab: (handle: string) => driver.switchTo(handle),
    closeTab: (handle: string, then: string) => driver.closeTab(handle, then),
    stopServiceWorkers:
      engine === 'firefox'
        ? async () => {
            const stopped = await driver.chrome<number>(`
              const manager = Cc['@mozilla.org/serviceworkers/manager;1'].getService(Ci.nsIServiceWorkerManager);
              const registrations = manager.getAllRegistrations();
              let stopped = 0;
              for (let i = 0; i < registrations.length; i++) {
                const worker = registrations.queryElementAt(i, Ci.nsIServiceWorkerRegistrationInfo).activeWorker;
                if (worker) { worker.terminateWorker(); stopped++; }
              }
              return stopped;`);
            if (stopped === 0) throw new Error('no active service worker to stop');
            return `nsIServiceWorkerInfo.terminateWorker() (about:debugging's Stop), ${stopped} worker(s)`;
          }
        : null,
    collectGarbage: null,
    downloadFinished: (_name: string): Promise<number> | null => null,
    cancelDownload: null,
    cdp: null,
    hardReload: null,
    bypassServiceWorker: null,
    pageErrors: [] as string[],
    dismissedPrompts: driver.dismissedPrompts,
    close: () => driver.close(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const test = base.extend<{
  engine: EngineName;
  firefoxPrefs: Record<string, unknown>;
  chromiumArgs: string[];
  chromiumVia: 'playwright' | 'chromedriver';
  automaticDownloads: boolean;
  driver: Browser;
}>({
  engine: ['chromium', { option: true }],
  /** Extra Firefox preferences for the tests of one file (`test.use`). */
  firefoxPrefs: [{}, { option: true }],
  /** Extra Chromium command-line switches for the tests of one file (`test.use`; Playwright only). */
  chromiumArgs: [[], { option: true }],
  /** How the tests of one file drive Chromium: chromedriver where a tab must be hidden. */
  chromiumVia: ['playwright', { option: true }],
  /** Chromium (chromedriver) lets a page start many downloads without asking; `false`: as a new user's. */
  automaticDownloads: [true, { option: true }],
  driver: async ({ engine, baseURL, firefoxPrefs, chromiumArgs, chromiumVia, automaticDownloads }, use, testInfo) => {
    const missing = unavailable(engine);
    testInfo.skip(missing !== null, missing ?? '');
    const downloadDir =
      engine === 'safari' ? join(homedir(), 'Downloads') : mkdtempSync(join(tmpdir(), `sluice-downloads-${engine}-`));
    const url = baseURL ?? 'http://127.0.0.1:8123';
    const raw =
      engine === 'chromium' && chromiumVia === 'playwright' ? await playwrightBrowser(chromium, url, downloadDir, chromiumArgs)
      : engine === 'playwright-webkit' ? await playwrightBrowser(webkit, url, downloadDir)
      : await webdriverBrowser(engine, url, downloadDir, firefoxPrefs, automaticDownloads);
    testInfo.annotations.push({ type: 'engine', description: raw.version });
    const goto = (path: string) => raw.goto(/^[a-z]+:/.test(path) ? path : url + path);
    const open = async () => {
      await goto('/test.html');
      await raw.evaluate('async () => { while (!window.sluiceReady) await new Promise((r) => setTimeout(r, 20)); }', null);
    };
    const browser: Browser = {
      engine,
      version: raw.version,
      downloadDir,
      goto,
      open,
      evaluate: (fn, arg) => raw.evaluate(fn.toString(), arg),
      closePage: () => raw.closePage(),
      newTab: () => raw.newTab(),
      currentTab: () => raw.currentTab(),
      switchTab: (handle) => raw.switchTab(handle),
      closeTab: (handle, then) => raw.closeTab(handle, then),
      downloadFinished: (name) => raw.downloadFinished(name),
      cancelDownload: raw.cancelDownload,
      cdp: raw.cdp,
      hardReload: raw.hardReload,
      bypassServiceWorker: raw.bypassServiceWorker,
      errors: async () => [...raw.pageErrors, ...(await raw.evaluate<string[]>('() => window.sluiceErrors || []', null))],
      screenshot: async (file) => {
        mkdirSync(dirname(file), { recursive: true });
        await raw.screenshot(file);
      },
      collectGarbage: async () => {
        if (raw.collectGarbage) return raw.collectGarbage();
        await raw.evaluate(
          `async () => {
            for (let round = 0; round < 6; round++) {
              let junk = [];
              for (let i = 0; i < 300000; i++) junk.push({ i, text: 'garbage ' + i });
              junk = null;
              await new Promise((r) => setTimeout(r, 30));
            }
          }`,
          null,
        );
        return 'short-lived allocations in the page';
      },
      stopServiceWorkers: async () => {
        if (raw.stopServiceWorkers) return raw.stopServiceWorkers();
        await goto('about:blank');
        await sleep(15_000);
        await open();
        return 'left the page for 15 s (no clients)';
      },
    };
    try {
      await use(browser);
      // A test fails on any uncaught page or service-worker error.
      expect(await browser.errors(), 'uncaught errors in the page or the service worker').toEqual([]);
      for (const text of raw.dismissedPrompts) console.log(`${engine}: the browser showed a dialog (dismissed): ${text}`);
    } finally {
      await raw.close();
      // The files of a test that passed are not needed (a run writes gigabytes); a failed
      // test's stay for a look.
      if (engine !== 'safari' && testInfo.status === testInfo.expectedStatus) rmSync(downloadDir, { recursive: true, force: true });
    }
  },
});

/** Records a figure (MB/s, seconds, MiB) for a matrix row; the matrix shows it in the cell. */
export function figure(row: Row, text: string): void {
  test.info().annotations.push({ type: 'figure', description: `${row}: ${text}` });
  console.log(`${test.info().project.name}: ${row}: ${text}`);
}

/** Marks the rest of the test not applicable in this browser (an "n.a." cell), with the reason. */
export function notApplicable(why: string): void {
  test.skip(true, `not applicable: ${why}`);
}

/** The service-worker paths, each asked for by name: `auto` takes the fallback wherever it works. */
export const PATHS = ['transfer', 'fallback'] as const;

/** Marks the test n.a. where it runs on the transfer path and the probe finds streams not transferable. */
export async function onPath(driver: Browser, mode: string): Promise<void> {
  if (mode !== 'transfer') return;
  if (!(await driver.evaluate(() => window.sluiceTest.streamTransferable()))) notApplicable('the transfer path: a ReadableStream is not transferable to the service worker here');
}

/** Declares the matrix rows a test stands for (a static annotation: kept when it skips). */
export function rowsOf(...ids: Row[]) {
  return { annotation: ids.map((id) => ({ type: 'matrix', description: id })) };
}

/**
 * Runs `fn` (self-contained: no captured variables) in the page's own realm, not the
 * automation's, and returns its result through JSON. Firefox's automation reaches the page's
 * objects through Xrays, which keep what a test sets on them (own properties, a prototype) to
 * themselves: a test of what a page's own objects say must run here.
 */
export async function inPageRealm<T>(driver: Browser, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const key = `realm${Date.now()}${Math.floor(Math.random() * 1e9)}`;
  await driver.evaluate(({ source, key }) => {
    const script = document.createElement('script');
    const settle = `(t) => { document.documentElement.dataset[${JSON.stringify(key)}] = t; }`;
    script.textContent = `Promise.resolve().then(${source}).then((ok) => JSON.stringify({ ok }), (e) => JSON.stringify({ error: String((e && e.stack) || e) })).then(${settle});`;
    document.head.append(script);
    script.remove();
  }, { source: fn.toString(), key });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const said = await driver.evaluate((key) => document.documentElement.dataset[key] ?? '', key);
    if (said) {
      const { ok, error } = JSON.parse(said) as { ok?: T; error?: string };
      if (error !== undefined) throw new Error(`in the page: ${error}`);
      return ok as T;
    }
    if (Date.now() > deadline) throw new Error(`the page's realm gave no result in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Where the matrix and the demo screenshots go (`target/compat/`). */
export function compatDir(): string {
  return join(dirname(test.info().config.configFile ?? process.cwd()), 'target', 'compat');
}

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
