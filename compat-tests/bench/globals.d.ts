// What compat-tests/demo/bench.html puts on `window` for the benchmark.
declare global {
  interface Window {
    benchReady: boolean;
    bench: {
      setup(impl: string, options: Record<string, unknown>): Promise<string>;
      /** Starts one download of `size` bytes per name, all at once. */
      start(impl: string, options: { names: string[]; size: number; chunk: number; yieldEach: boolean; entries?: number }): void;
      /** The size of the archive `impl` makes of `entries` entries in `size` bytes. */
      zipSize(impl: string, entries: number, size: number): number;
      state(): string;
      handed(): number;
      producerAlone(options: { size: number; chunk: number; yieldEach: boolean; sink?: boolean }): Promise<number>;
    };
  }
}
export {};
