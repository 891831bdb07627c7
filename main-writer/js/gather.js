
// ---- Sluice's small-write fast path (appended to wasm-bindgen's output by `cargo xtask build`) ----
// A write that crosses into wasm costs more than copying 100 bytes: a small write that fits is
// copied into the download's staging buffer here. Everything else (the flush, a write that does
// not fit, any other chunk, a failed download) is Rust's (main-writer/src/gather.rs), which owns
// `stage` ({ buf, n, min, due, max, open, flushing }) and calls this with `slow` (a write it
// takes) and `due` (the staged bytes reached `due` while no flush runs). The name carries the
// layout of `stage`: change both together.
(() => {
  // The built-in getters, which a chunk cannot override. A Uint8Array of this realm passes
  // `instanceof` (cheap), one of another realm its tag (the tag's getter is slow in WebKit).
  // `instanceof` tells only the prototype: a view of a wider kind given Uint8Array's (its
  // length is not its byte length), or an object made from it (the getters throw), goes to
  // Rust, which saves the one's bytes and refuses the other.
  const typed = Object.getPrototypeOf(Uint8Array.prototype);
  const getter = (key) => Object.getOwnPropertyDescriptor(typed, key).get;
  const tagOf = getter(Symbol.toStringTag);
  const lengthOf = getter('length');
  const byteLengthOf = getter('byteLength');
  const bytesIn = (chunk) => {
    try {
      if (!(chunk instanceof Uint8Array || tagOf.call(chunk) === 'Uint8Array')) return 0;
      const len = lengthOf.call(chunk);
      return len === byteLengthOf.call(chunk) ? len : 0;
    } catch {
      return 0;
    }
  };
  globalThis.sluiceGatherWrite2 = (stage, slow, due) => (chunk) => {
    const len = bytesIn(chunk);
    if (len > 0 && len < stage.min && stage.open && stage.n + len <= stage.max) {
      (stage.buf ??= new Uint8Array(stage.max)).set(chunk, stage.n);
      stage.n += len;
      if (stage.n >= stage.due && !stage.flushing) due();
      return;
    }
    return slow(chunk);
  };
})();
