
// ---- Sluice's small-write fast path (appended to wasm-bindgen's output by `cargo xtask build`) ----
// A write that crosses into wasm costs more than copying 100 bytes: a small write that fits is
// copied into the download's staging buffer here. Everything else (the flush, a write that does
// not fit, any other chunk, a failed download) is Rust's (main-writer/src/gather.rs), which owns
// `stage` ({ buf, n, min, max, open, flushing }) and calls this with `slow` (a write it takes)
// and `due` (the staged bytes reached min while no flush runs). The name carries the layout of
// `stage`: change both together.
(() => {
  // The built-in getters, which a chunk cannot override: a Uint8Array of any realm, its length.
  const typed = Object.getPrototypeOf(Uint8Array.prototype);
  const getter = (key) => Function.prototype.call.bind(Object.getOwnPropertyDescriptor(typed, key).get);
  const tagOf = getter(Symbol.toStringTag);
  const lengthOf = getter('length');
  globalThis.sluiceGatherWrite1 = (stage, slow, due) => (chunk) => {
    const len = tagOf(chunk) === 'Uint8Array' ? lengthOf(chunk) : 0;
    if (len > 0 && len < stage.min && stage.open && stage.n + len <= stage.max) {
      (stage.buf ??= new Uint8Array(stage.max)).set(chunk, stage.n);
      stage.n += len;
      if (stage.n >= stage.min && !stage.flushing) due();
      return;
    }
    return slow(chunk);
  };
})();
