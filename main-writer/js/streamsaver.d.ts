/** Sluice's StreamSaver.js 2.x drop-in (`sluice/streamsaver`). */
declare const streamSaver: {
  /** A `WritableStream` at once; the first call registers Sluice's service worker. */
  createWriteStream(
    filename: string,
    options?: { size?: number; writableStrategy?: QueuingStrategy<Uint8Array>; readableStrategy?: QueuingStrategy<Uint8Array> },
  ): WritableStream<Uint8Array>;
  /** `Sluice.register`'s options for the drop-in (e.g. `serviceWorker`), set before the first call. */
  sluice: import('./sluice').SluiceOptions;
  WritableStream: typeof WritableStream;
  TransformStream: typeof TransformStream;
  supported: boolean;
  version: { full: string; major: number; minor: number; dot: number };
  /** Accepted and ignored: Sluice needs no man-in-the-middle page. */
  mitm: string;
};
export = streamSaver;
