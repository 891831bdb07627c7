//! A Rust/wasm app that saves many generated files as one zip through Sluice's zip API:
//! `save_zip(name, count, size, mode)` adds `count` text files of `size` bytes each
//! (`files/file-0000.txt`, ...), each made and streamed 64 KiB at a time. `mode` is `declared` (the
//! entries are declared up front: the archive's exact size is known before its first byte, the
//! download's Content-Length), `deflated` (each entry deflated by the browser), or `unsized`
//! (each entry's size unknown until its end, as a fetched body's: ZIP64 entries); `short` and
//! `failing` show a failure (the last entry's stream ends early, or fails): the download fails,
//! and no archive that looks complete is left on disk. The page (`index.html`) calls it from a
//! button. `save_mixed` saves many small text files and a few big ones (the small ones deflated,
//! or everything declared). `save_named(name, names)` saves one small entry per name as the app gave it (each
//! holds its own name): the zip stores each name made safe, and refuses the ones it cannot use.

/// Bytes per chunk an entry's stream yields.
const CHUNK: u64 = 64 * 1024;

/// Entry `i`'s text, `CHUNK` bytes at a time: lines `file <i> line <k>` cut at `size` bytes
/// (the tests make the same).
pub fn chunks(i: u32, size: u64) -> impl Iterator<Item = Vec<u8>> {
    let (mut left, mut line, mut pending) = (size, 0u64, Vec::new());
    std::iter::from_fn(move || {
        let want = CHUNK.min(left) as usize;
        if want == 0 {
            return None;
        }
        while pending.len() < want {
            pending.extend_from_slice(format!("file {i} line {line}\n").as_bytes());
            line += 1;
        }
        let rest = pending.split_off(want);
        left -= want as u64;
        Some(std::mem::replace(&mut pending, rest))
    })
}

#[cfg(target_arch = "wasm32")]
mod app {
    use futures::{stream, StreamExt};
    use sluice_main_writer::{Entry, Method, Options, Sluice, SluiceError, Source, Trigger, ZipEntry};
    use wasm_bindgen::prelude::*;

    /// Saves zip `name` of `count` files of `size` bytes; resolves to `[size known before the
    /// first byte, or -1; bytes the service worker served]`.
    #[wasm_bindgen]
    pub async fn save_zip(name: String, count: u32, size: f64, mode: String) -> Result<Vec<f64>, JsError> {
        let known = ["declared", "deflated", "unsized", "short", "failing"];
        if !known.contains(&mode.as_str()) {
            return Err(JsError::new(&format!("no mode {mode:?}: one of {known:?}")));
        }
        let saved = save(name, count, size as u64, &mode).await;
        let (known, served) = saved.map_err(|e| JsError::new(&format!("{}: {e}", e.code())))?;
        Ok(vec![known.map_or(-1.0, |k| k as f64), served as f64])
    }

    async fn save(name: String, count: u32, size: u64, mode: &str) -> Result<(Option<u64>, u64), SluiceError> {
        let options = Options { service_worker: "/sluice-sw.js".into(), ..Options::default() };
        let sluice = Sluice::register(options).await?;
        let names: Vec<String> = (0..count).map(|i| format!("files/file-{i:04}.txt")).collect();
        let list = (mode == "declared").then(|| names.iter().map(|n| (n.clone(), size)).collect());
        let zip = sluice.create_zip(name, list, Trigger::Iframe)?;
        for (i, name) in (0..count).zip(names) {
            let method = if mode == "deflated" { Method::Deflated } else { Method::Stored };
            let entry = Entry { name, size: (mode != "unsized").then_some(size), modified: 1_700_000_000, method };
            let chunks = stream::iter(super::chunks(i, size)).map(Ok);
            let source = if i + 1 == count && matches!(mode, "short" | "failing") {
                // The last entry's source ends after its first chunk, or fails there.
                let failed =
                    (mode == "failing").then(|| Err(SluiceError::Browser("the source failed (on purpose)".into())));
                Source::Rust(chunks.take(1).chain(stream::iter(failed)).boxed_local())
            } else {
                Source::Rust(chunks.boxed_local())
            };
            // Each entry is written before the next is added; its chunks are made as it is read.
            zip.add(ZipEntry { entry, source }).await?;
        }
        zip.close().await?;
        let served = zip.download().done().await?;
        Ok((zip.size(), served))
    }

    /// Saves zip `name` of `small` text files of `small_size` bytes (`small/file-0000.txt`, ...)
    /// then `big` of `big_size` (`big/file-0.bin`, ...), entry `i`'s text as `chunks(i, ..)`
    /// makes it. With `compress`, the small ones are deflated (text) and the big ones stored (as
    /// media would be); without, every entry is declared up front. Resolves as `save_zip`.
    #[wasm_bindgen]
    pub async fn save_mixed(
        name: String,
        small: u32,
        small_size: f64,
        big: u32,
        big_size: f64,
        compress: bool,
    ) -> Result<Vec<f64>, JsError> {
        let files: Vec<(String, u64)> = (0..small)
            .map(|i| (format!("small/file-{i:04}.txt"), small_size as u64))
            .chain((0..big).map(|j| (format!("big/file-{j}.bin"), big_size as u64)))
            .collect();
        let saved = async {
            let options = Options { service_worker: "/sluice-sw.js".into(), ..Options::default() };
            let declared = (!compress).then(|| files.clone());
            let zip = Sluice::register(options).await?.create_zip(name, declared, Trigger::Iframe)?;
            for (i, (name, size)) in (0..).zip(files) {
                let method = if compress && i < small { Method::Deflated } else { Method::Stored };
                let chunks = stream::iter(super::chunks(i, size)).map(Ok);
                let entry = Entry { name, size: Some(size), modified: 1_700_000_000, method };
                zip.add(ZipEntry { entry, source: Source::Rust(chunks.boxed_local()) }).await?;
            }
            zip.close().await?;
            let served = zip.download().done().await?;
            Ok::<_, SluiceError>((zip.size(), served))
        };
        let (known, served) = saved.await.map_err(|e| JsError::new(&format!("{}: {e}", e.code())))?;
        Ok(vec![known.map_or(-1.0, |k| k as f64), served as f64])
    }

    /// Saves zip `name` with one entry per name in `names`, holding the name's UTF-8 bytes;
    /// resolves to the bytes served, then what became of each name: `""` (added), or the
    /// error's code and text (a name the zip refuses: the archive goes on without it).
    #[wasm_bindgen]
    pub async fn save_named(name: String, names: Vec<String>) -> Result<Vec<String>, JsError> {
        let saved = async {
            let options = Options { service_worker: "/sluice-sw.js".into(), ..Options::default() };
            let zip = Sluice::register(options).await?.create_zip(name, None, Trigger::Iframe)?;
            let mut outcomes = Vec::new();
            for name in names {
                let bytes = name.as_bytes().to_vec();
                let entry =
                    Entry { size: Some(bytes.len() as u64), name, modified: 1_700_000_000, method: Method::Stored };
                let source = Source::Rust(stream::iter([Ok(bytes)]).boxed_local());
                let added = zip.add(ZipEntry { entry, source }).await;
                outcomes.push(added.err().map_or(String::new(), |e| format!("{}: {e}", e.code())));
            }
            zip.close().await?;
            outcomes.insert(0, zip.download().done().await?.to_string());
            Ok::<_, SluiceError>(outcomes)
        };
        saved.await.map_err(|e| JsError::new(&format!("{}: {e}", e.code())))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_make_the_lines_cut_at_the_size() {
        for size in [0, 1, 65_535, 65_536, 200_001] {
            let mut text = String::new();
            for line in 0.. {
                if text.len() >= size {
                    break;
                }
                text.push_str(&format!("file 7 line {line}\n"));
            }
            text.truncate(size);
            let chunks: Vec<Vec<u8>> = super::chunks(7, size as u64).collect();
            assert!(chunks.iter().all(|c| c.len() as u64 <= super::CHUNK && !c.is_empty()));
            assert_eq!(chunks.concat(), text.as_bytes(), "{size}");
        }
    }
}
