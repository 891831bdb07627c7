
// ---- Sluice's small-write fast path (appended to wasm-bindgen's output by `cargo xtask build`) ----
// A write that crosses into wasm costs more than copying 100 bytes: a small write that fits is
// copied into the download's staging buffer here. Everything else (the flush, a write that does
// not fit, any other chunk, a failed download) is Rust's (main-writer/src/gather.rs), which owns
// `stage` ({ buf, n, min, max, open, flushing }) and calls this with `slow` (a write it takes)
// and `due` (the staged bytes reached min while no flush runs).
globalThis.sluiceGatherWrite = (stage, slow, due) => (chunk) => {
  const len = ArrayBuffer.isView(chunk) && chunk instanceof Uint8Array ? chunk.length : 0;
  if (len > 0 && len < stage.min && stage.open && stage.n + len <= stage.max) {
    (stage.buf ??= new Uint8Array(stage.max)).set(chunk, stage.n);
    stage.n += len;
    if (stage.n >= stage.min && !stage.flushing) due();
    return;
  }
  return slow(chunk);
};
