// What compat-tests/demo/test.html puts on `window` for the specs.
declare global {
  interface Window {
    sluice: typeof import('../../dist/sluice');
    sluiceReady: boolean;
    /** The page module's wasm exports (its memory, for the memory tests). */
    sluiceWasm: { memory: WebAssembly.Memory };
    sluiceErrors: string[];
    sluiceTest: {
      byteAt(p: number): number;
      bytes(offset: number, length: number): Uint8Array;
      mismatch(body: Uint8Array, offset?: number): number;
      write(writable: WritableStream, size: number, chunk?: number): Promise<void>;
      read(response: Response): Promise<{ length: number; firstBad: number }>;
      streamTransferable(): boolean;
      saveChunks(sluice: import('../../dist/sluice').Sluice, name: string, size: number, chunks: unknown[]): Promise<{ done: number; length: number; mismatch: number }>;
      /** A Sluice a spec keeps between two `evaluate` calls. */
      current?: import('../../dist/sluice').Sluice;
      /** Loads the StreamSaver drop-in (dist/streamsaver.js) with a script tag. */
      streamSaver(): Promise<any>;
      produce(kind: 'dedicated' | 'shared', message: { port?: MessagePort; control?: MessagePort; name: string; [key: string]: unknown }): Promise<any>;
      stats(): Promise<{ open: number; served: number; connections: number; maxQueuedChunks: number; maxQueuedBytes: number }>;
    };
  }
}
export {};
