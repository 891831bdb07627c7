//! A Rust/wasm app that saves many generated files as one zip through Sluice's zip API:
//! `save_zip(name, count, size, mode)` adds `count` text files of `size` bytes each
//! (`files/file-0000.txt`, ...), each streamed in 4 KiB chunks. `mode` is `declared` (the
//! entries are declared up front: the archive's exact size is known before its first byte, the
//! download's Content-Length), `deflated` (each entry deflated by the browser), or `unsized`
//! (each entry's size unknown until its end, as a fetched body's: ZIP64 entries); `short` and
//! `failing` show a failure (the last entry's stream ends early, or fails): the download fails,
//! and no archive that looks complete is left on disk. The page (`index.html`) calls it from a
//! button.

/// Entry `i`'s text: lines `file <i> line <k>` up to `size` bytes (the tests make the same).
pub fn content(i: u32, size: u32) -> Vec<u8> {
    let mut text = String::new();
    let mut line = 0;
    while text.len() < size as usize {
        text.push_str(&format!("file {i} line {line}\n"));
        line += 1;
    }
    text.truncate(size as usize);
    text.into_bytes()
}

#[cfg(target_arch = "wasm32")]
mod app {
    use futures::{stream, StreamExt};
    use sluice_main_writer::{Entry, Method, Options, Sluice, SluiceError, Source, Trigger, ZipEntry};
    use wasm_bindgen::prelude::*;

    /// Bytes per chunk an entry's stream yields.
    const CHUNK: usize = 4096;

    /// Saves zip `name` of `count` files of `size` bytes; resolves to `[size known before the
    /// first byte, or -1; bytes the service worker served]`.
    #[wasm_bindgen]
    pub async fn save_zip(name: String, count: u32, size: u32, mode: String) -> Result<Vec<f64>, JsError> {
        let known = ["declared", "deflated", "unsized", "short", "failing"];
        if !known.contains(&mode.as_str()) {
            return Err(JsError::new(&format!("no mode {mode:?}: one of {known:?}")));
        }
        let saved = save(name, count, size, &mode).await;
        let (known, served) = saved.map_err(|e| JsError::new(&format!("{}: {e}", e.code())))?;
        Ok(vec![known.map_or(-1.0, |k| k as f64), served as f64])
    }

    async fn save(name: String, count: u32, size: u32, mode: &str) -> Result<(Option<u64>, u64), SluiceError> {
        let options = Options { service_worker: "/sluice-sw.js".into(), ..Options::default() };
        let sluice = Sluice::register(options).await?;
        let names: Vec<String> = (0..count).map(|i| format!("files/file-{i:04}.txt")).collect();
        let list = (mode == "declared").then(|| names.iter().map(|n| (n.clone(), u64::from(size))).collect());
        let zip = sluice.create_zip(name, list, Trigger::Iframe)?;
        for (i, name) in (0..count).zip(names) {
            let method = if mode == "deflated" { Method::Deflated } else { Method::Stored };
            let sized = (mode != "unsized").then_some(u64::from(size));
            let entry = Entry { name, size: sized, modified: 1_700_000_000, method };
            let mut chunks: Vec<Result<Vec<u8>, SluiceError>> =
                super::content(i, size).chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
            if i + 1 == count && matches!(mode, "short" | "failing") {
                // The last entry's source ends after its first chunk, or fails there.
                chunks.truncate(1);
                if mode == "failing" {
                    chunks.push(Err(SluiceError::Browser("the source failed (on purpose)".into())));
                }
            }
            let source = Source::Rust(stream::iter(chunks).boxed_local());
            // Each entry is written before the next is added: memory holds one entry's chunks.
            zip.add(ZipEntry { entry, source }).await?;
        }
        zip.close().await?;
        let served = zip.download().done().await?;
        Ok((zip.size(), served))
    }
}
