//! A Rust/wasm app that saves what it generates through Sluice's `Sink` API: `save_table(rows)`
//! streams a CSV of `rows` rows (`n,n squared`) to the user's disk, a chunk of rows at a time, with
//! the memory of one chunk; the page (`index.html`) calls it from a button.

#[cfg(target_arch = "wasm32")]
mod app {
    use futures::{stream, SinkExt, StreamExt};
    use sluice_main_writer::{FileMeta, Options, Sluice, SluiceError, Trigger};
    use wasm_bindgen::prelude::*;

    /// Rows per chunk handed to the sink.
    const ROWS_PER_CHUNK: u64 = 10_000;

    /// The CSV rows `from..to`, as bytes.
    fn rows(from: u64, to: u64) -> Vec<u8> {
        (from..to).map(|n| format!("{n},{}\n", n * n)).collect::<String>().into_bytes()
    }

    /// Saves `table.csv` with a header and `count` rows; resolves to the bytes the service
    /// worker served.
    #[wasm_bindgen]
    pub async fn save_table(count: u64) -> Result<f64, JsError> {
        let served = save(count).await.map_err(|e| JsError::new(&format!("{}: {e}", e.code())))?;
        Ok(served as f64)
    }

    async fn save(count: u64) -> Result<u64, SluiceError> {
        let options = Options { service_worker: "/sluice-sw.js".into(), ..Options::default() };
        let sluice = Sluice::register(options).await?;
        let meta = FileMeta { name: "table.csv".into(), size: None, content_type: Some("text/csv".into()) };
        let download = sluice.create_download(meta, Trigger::Iframe)?;
        let mut sink = download.clone().into_sink();
        let header = stream::iter([Ok(b"n,n squared\n".to_vec())]);
        let chunks = stream::iter((0..count).step_by(ROWS_PER_CHUNK as usize))
            .map(|from| Ok(rows(from, (from + ROWS_PER_CHUNK).min(count))));
        // Each chunk waits for the sink: the service worker's pace is the producer's.
        sink.send_all(&mut header.chain(chunks)).await?;
        sink.close().await?;
        download.done().await
    }
}
