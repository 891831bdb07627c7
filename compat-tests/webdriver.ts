// A minimal W3C WebDriver client: the sessions Firefox (geckodriver) and WebKitGTK
// (WebKitWebDriver + MiniBrowser) need for the end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8' };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A command stopped by a browser dialog that was open (and is now dismissed). */
class PromptDismissed extends Error {
  constructor(readonly text: string) {
    super(`a browser dialog was open: ${text}`);
  }
}

export class WebDriver {
  private constructor(
    private readonly base: string,
    private readonly session: string,
    private readonly driver: ChildProcess,
    /** The browser's version, from the session's capabilities. */
    readonly browserVersion: string,
  ) {}

  /** Starts `binary` on a free port and opens a session with `capabilities`. */
  static async start(binary: string, args: (port: number) => string[], capabilities: object, env: NodeJS.ProcessEnv = process.env): Promise<WebDriver> {
    const port = await freePort();
    const driver = spawn(binary, args(port), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    driver.stderr?.on('data', (d) => (stderr += String(d)).length > 20_000 && (stderr = stderr.slice(-10_000)));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await fetch(`${base}/status`, { signal: AbortSignal.timeout(1000) });
        break;
      } catch {
        if (Date.now() > deadline || driver.exitCode !== null) throw new Error(`${binary} did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Creating a session can hang forever (WebKitGTK without a display): always time out.
    const response = await fetch(`${base}/session`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ capabilities: { alwaysMatch: capabilities } }),
      signal: AbortSignal.timeout(90_000),
    }).catch((e) => {
      driver.kill('SIGKILL');
      throw new Error(`${binary}: no session within 90 s (${e}); ${stderr}`);
    });
    const body = (await response.json()) as { value: { sessionId?: string; message?: string; capabilities?: { browserVersion?: string } } };
    if (!body.value.sessionId) {
      driver.kill('SIGKILL');
      throw new Error(`${binary}: session refused: ${body.value.message}; ${stderr}`);
    }
    const webdriver = new WebDriver(base, body.value.sessionId, driver, body.value.capabilities?.browserVersion ?? 'unknown');
    await webdriver.command('POST', 'timeouts', { script: 600_000, pageLoad: 60_000 });
    return webdriver;
  }

  /** The texts of the browser's own dialogs dismissed so far (e.g. Firefox's alert that a
   * download failed, which it shows on its own when a download's stream errors early). */
  readonly dismissedPrompts: string[] = [];

  /** Sends a command. A browser dialog open before it is dismissed and noted first (a script
   * would not run); one that opens while a script runs fails that command, which is not sent
   * again (the script may have done part of its work). */
  async command<T = unknown>(method: string, path: string, payload?: object): Promise<T> {
    if (path.startsWith('execute/')) {
      const open = await this.send<string>('GET', 'alert/text').catch(() => null);
      if (open !== null) {
        this.dismissedPrompts.push(open);
        await this.send('POST', 'alert/dismiss', {}).catch(() => {});
      }
      return this.send<T>(method, path, payload);
    }
    try {
      return await this.send<T>(method, path, payload);
    } catch (e) {
      if (!(e instanceof PromptDismissed)) throw e;
      this.dismissedPrompts.push(e.text);
      return this.send<T>(method, path, payload);
    }
  }

  // node:http, not fetch: fetch gives up on a reply slower than 5 minutes (a long download).
  private send<T>(method: string, path: string, payload?: object): Promise<T> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(`${this.base}/session/${this.session}/${path}`, { method, headers: JSON_HEADERS }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (d) => (text += d));
        response.on('error', reject);
        response.on('end', () => {
          try {
            const body = JSON.parse(text) as { value: T & { error?: string; message?: string; data?: { text?: string } } };
            const ok = (response.statusCode ?? 500) < 300;
            if (ok) resolve(body.value);
            else if (body.value?.error === 'unexpected alert open') reject(new PromptDismissed(body.value.data?.text ?? body.value.message ?? ''));
            else reject(new Error(`WebDriver ${path}: ${body.value?.error}: ${body.value?.message}`));
          } catch (e) {
            reject(new Error(`WebDriver ${path}: not JSON (${e}): ${text.slice(0, 200)}`));
          }
        });
      });
      request.setTimeout(660_000, () => request.destroy(new Error(`WebDriver ${path}: no reply within 660 s`)));
      request.on('error', reject);
      request.end(payload ? JSON.stringify(payload) : undefined);
    });
  }

  /** Runs `script` (a function body) in the browser's own chrome context, then returns to the
   * page (Firefox only, with geckodriver's `--allow-system-access`). */
  async chrome<T>(script: string): Promise<T> {
    await this.command('POST', 'moz/context', { context: 'chrome' });
    try {
      return await this.command<T>('POST', 'execute/sync', { script, args: [] });
    } finally {
      await this.command('POST', 'moz/context', { context: 'content' });
    }
  }

  async goto(url: string): Promise<void> {
    await this.command('POST', 'url', { url });
  }

  /** Runs `source` (an async function's text) with `arg` in the page; returns its result. */
  async evaluate<T>(source: string, arg: unknown): Promise<T> {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${source})(arguments[0]))
        .then((value) => done({ ok: true, value: value === undefined ? null : value }),
              (error) => done({ ok: false, error: String(error && error.stack ? error + '\\n' + error.stack : error) }));`;
    const result = await this.command<{ ok: boolean; value: T; error: string }>('POST', 'execute/async', { script, args: [arg ?? null] });
    if (!result.ok) throw new Error(result.error);
    return result.value;
  }

  /** Saves a PNG of the current page (WebDriver "Take Screenshot"), in a window tall enough for it. */
  async screenshot(file: string): Promise<void> {
    await this.command('POST', 'window/rect', { width: 1280, height: 1500 }).catch(() => {});
    await this.evaluate('() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))', null);
    writeFileSync(file, Buffer.from(await this.command<string>('GET', 'screenshot'), 'base64'));
  }

  /** Closes the current window after opening a new one, and continues in the new one. */
  async closeWindow(): Promise<void> {
    const { handle } = await this.command<{ handle: string }>('POST', 'window/new', { type: 'tab' });
    await this.command('DELETE', 'window');
    await this.command('POST', 'window', { handle });
  }

  /** The current window's handle. */
  currentWindow(): Promise<string> {
    return this.command<string>('GET', 'window');
  }

  /** Opens a new tab and continues in it; returns its handle. */
  async newTab(): Promise<string> {
    const { handle } = await this.command<{ handle: string }>('POST', 'window/new', { type: 'tab' });
    await this.switchTo(handle);
    return handle;
  }

  async switchTo(handle: string): Promise<void> {
    await this.command('POST', 'window', { handle });
  }

  /** Closes window `handle`, and continues in `then`. */
  async closeTab(handle: string, then: string): Promise<void> {
    await this.switchTo(handle);
    await this.command('DELETE', 'window');
    await this.switchTo(then);
  }

  async close(): Promise<void> {
    await fetch(`${this.base}/session/${this.session}`, { method: 'DELETE', signal: AbortSignal.timeout(30_000) }).catch(() => {});
    this.driver.kill('SIGKILL');
  }
}
