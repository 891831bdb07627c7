import { test, expect, figure, onPath, rowsOf, PATHS } from '../fixtures';

for (const mode of PATHS) {
  test.describe(`failures (${mode})`, () => {
    // The browser hands the service worker the consumer's cancel, but not always its reason
    // (Chromium passes none): the writer gets a `cancelled` error with whatever reason came.
    test('cancelling the fetched body errors dl.writable with the reason', rowsOf('cancel'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        const sluice = await window.sluice.Sluice.register({ mode });
        const dl = sluice.createDownload('cancel.bin', { trigger: 'none' });
        const writer = dl.writable.getWriter();
        const writing = (async () => {
          for (let i = 0; ; i++) await writer.write(window.sluiceTest.bytes(i * 65536, 65536));
        })().catch((e) => `${e.code}: ${e}`);
        const reader = (await fetch(dl.url)).body!.getReader();
        await reader.read();
        await reader.cancel('user-said-stop-42');
        const writeError = await Promise.race([writing, new Promise((r) => setTimeout(() => r('still writing after 20 s'), 20000))]);
        const done = await dl.done.then((n) => `resolved ${n}`, (e) => `${e.code}: ${e}`);
        return { writeError, done };
      }, mode);
      expect(result.writeError).toMatch(/^cancelled: SluiceError: the download was cancelled: /);
      expect(result.done).toMatch(/^cancelled: /);
      figure('cancel', `${mode}: reason "${String(result.writeError).replace(/^.*the download was cancelled: /, '')}"`);
    });

    test('dl.abort() makes the fetched body error, never end cleanly', rowsOf('abort'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        const sluice = await window.sluice.Sluice.register({ mode });
        const dl = sluice.createDownload('abort.bin', { size: 10 * 1048576, trigger: 'none' });
        const writer = dl.writable.getWriter();
        void writer.write(window.sluiceTest.bytes(0, 1048576)).catch(() => {});
        const reader = (await fetch(dl.url)).body!.getReader();
        const first = await reader.read();
        dl.abort('producer-failed-7');
        try {
          for (;;) {
            const { done } = await reader.read();
            if (done) return { first: !first.done, ending: 'clean end' };
          }
        } catch (e) {
          return { first: !first.done, ending: `error: ${e}`, done: await dl.done.then(() => 'resolved', (e) => String(e)) };
        }
      }, mode);
      expect(result.first).toBe(true);
      expect(result.ending).toMatch(/^error/);
      expect(result.done).toContain('producer-failed-7');
    });

    test("writer.abort() while a write waits for the browser fails the download at once", rowsOf('abort'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        const sluice = await window.sluice.Sluice.register({ mode, expireAfterMs: 120_000 });
        const dl = sluice.createDownload('abort-waiting.bin', { trigger: 'none' });
        const writer = dl.writable.getWriter();
        const later = (ms: number, what: string) => new Promise<string>((r) => setTimeout(() => r(what), ms));
        // Nobody reads (a download the user paused): the writes soon wait.
        let waiting: Promise<string> | null = null;
        for (let i = 0; i < 64 && !waiting; i++) {
          const write = writer.write(window.sluiceTest.bytes(i * 1048576, 1048576)).then(() => 'resolved', (e) => `${e.code}`);
          if ((await Promise.race([write, later(300, 'waits')])) === 'waits') waiting = write;
        }
        const aborted = await Promise.race([writer.abort('changed my mind').then(() => 'aborted', (e) => `${e}`), later(5000, 'pending after 5 s')]);
        const write = await Promise.race([waiting ?? 'no write waited', later(1000, 'pending')]);
        const done = await Promise.race([dl.done.then(() => 'resolved', (e) => `${e.code}: ${e.message}`), later(1000, 'pending')]);
        return { aborted, write, done };
      }, mode);
      expect(result).toEqual({ aborted: 'aborted', write: 'aborted', done: 'aborted: the download was aborted: changed my mind' });
    });

    test('dl.abort() after close(): done and the body agree (the abort took, or came too late)', rowsOf('abort'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        // 3 MiB: what the service worker takes in while the reader holds (the transfer path's
        // read-ahead, the fallback's window), so the writer closes before the browser read it.
        const size = 3 * 1048576;
        const sluice = await window.sluice.Sluice.register({ mode });
        const dl = sluice.createDownload('abort-after-close.bin', { size, trigger: 'none' });
        // Firefox answers the fetch once the first bytes are there: the writes start first.
        const response = fetch(dl.url);
        const writing = window.sluiceTest.write(dl.writable, size).then(() => 'closed', (e) => `${e.code}`);
        const reader = (await response).body!.getReader();
        let read = (await reader.read()).value!.byteLength;
        const later = (ms: number, what: string) => new Promise<string>((r) => setTimeout(() => r(what), ms));
        const closed = await Promise.race([writing, later(10_000, 'pending after 10 s')]);
        dl.abort('changed my mind');
        const done = await Promise.race([dl.done.then(() => 'resolved', (e) => `${e.code}`), later(5000, 'pending')]);
        const rest = (async () => {
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return 'clean end';
              read += value.byteLength;
            }
          } catch {
            return 'error';
          }
        })();
        const ending = await Promise.race([rest, later(20_000, 'pending after 20 s')]);
        return { closed, done, body: ending === 'clean end' ? `clean end after ${read} B` : ending };
      }, mode);
      // done says what the browser got: the abort took (the body errors), or came after the
      // service worker had served every byte (WebKit reads the body ahead of its reader).
      expect(result.closed).toBe('closed');
      expect([result.done, result.body]).toEqual(result.done === 'aborted' ? ['aborted', 'error'] : ['resolved', 'clean end after 3145728 B']);
      figure('abort', `abort after close: ${result.done} (${mode})`);
    });

    // `sluice.close()` while the browser still reads: a download whose close() resolved is
    // let finish (done resolves, the body is whole); one still open fails (done and the body).
    test('sluice.close() lets a closed download finish and fails an open one', rowsOf('done-after-request'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        const later = (ms: number, what: string) => new Promise<string>((r) => setTimeout(() => r(what), ms));
        const outcome = (p: Promise<unknown>) => p.then((v) => `resolved ${v}`, (e) => `${e.code}`);
        const sluice = await window.sluice.Sluice.register({ mode });
        const connections = (await window.sluiceTest.stats()).connections;
        // 3 MiB: what the service worker takes in while the reader holds (see lifecycle.spec).
        const size = 3 * 1048576;
        const closed = sluice.createDownload('closed-then-sluice-closed.bin', { size, trigger: 'none' });
        const writing = window.sluiceTest.write(closed.writable, size).then(() => 'closed', (e) => `${e.code}`);
        const open = sluice.createDownload('open-when-sluice-closed.bin', { trigger: 'none' });
        const openWriter = open.writable.getWriter();
        void openWriter.write(window.sluiceTest.bytes(0, 65536)).catch(() => {});
        const readers = await Promise.all([closed, open].map(async (dl) => (await fetch(dl.url)).body!.getReader()));
        const firsts = await Promise.all(readers.map((r) => r.read()));
        const wrote = await Promise.race([writing, later(20_000, 'close pending after 20 s')]);
        sluice.close();
        const rest = readers.map(async (reader, i) => {
          let length = 0;
          let bad = -1;
          let chunk = firsts[i];
          try {
            for (; !chunk.done; chunk = await reader.read()) {
              const at = window.sluiceTest.mismatch(chunk.value!, length);
              if (at >= 0 && bad < 0) bad = length + at;
              length += chunk.value!.length;
            }
            return `clean end after ${length} B, first bad byte ${bad}`;
          } catch {
            return 'error';
          }
        });
        const bodies = await Promise.all(rest.map((r) => Promise.race([r, later(20_000, 'pending after 20 s')])));
        const dones = await Promise.all([closed, open].map((dl) => Promise.race([outcome(dl.done), later(20_000, 'pending after 20 s')])));
        // Then the connection ends: the service worker forgets it.
        const until = Date.now() + 10_000;
        let left = connections;
        while ((left = (await window.sluiceTest.stats()).connections) >= connections && Date.now() < until) await later(50, '');
        return { wrote, bodies, dones, connectionEnded: left === connections - 1 };
      }, mode);
      const size = 3 * 1048576;
      expect(result).toEqual({ wrote: 'closed', bodies: [`clean end after ${size} B, first bad byte -1`, 'error'], dones: [`resolved ${size}`, 'closed'], connectionEnded: true });
    });

    test('closing with fewer bytes than size errors, and the body errors too', rowsOf('truncated'), async ({ driver }) => {
      await driver.open();
      await onPath(driver, mode);
      const result = await driver.evaluate(async (mode) => {
        const sluice = await window.sluice.Sluice.register({ mode });
        const dl = sluice.createDownload('short.bin', { size: 200000, trigger: 'none' });
        const response = fetch(dl.url);
        const writer = dl.writable.getWriter();
        await writer.write(window.sluiceTest.bytes(0, 100000));
        const close = await writer.close().then(() => 'closed', (e) => `${e.code}: ${e}`);
        const body = await (await response).arrayBuffer().then((b) => `ended after ${b.byteLength}`, (e) => `error: ${e}`);
        return { close, body };
      }, mode);
      expect(result.close).toMatch(/^size_mismatch: /);
      expect(result.body).toMatch(/^error/);
    });
  });
}
