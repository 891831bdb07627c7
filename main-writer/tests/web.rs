//! The page's download handle in real browsers, on the `blob` rung (no service worker needed):
//! what its mailbox holds when a Rust caller does not await its writes.
//! Run by `cargo xtask test` in Chromium, Firefox ESR and WebKitGTK.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use futures::future::join_all;
use sluice_main_writer::{FileMeta, ForcedMode, Mode, Options, Sluice, SluiceError, Trigger};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn blob_download(name: &str) -> sluice_main_writer::Download {
    let options = Options { mode: ForcedMode::Only(Mode::Blob), ..Options::default() };
    let sluice = Sluice::register(options).await.unwrap();
    let meta = FileMeta { name: name.into(), size: None, content_type: None };
    sluice.create_download(meta, Trigger::None).unwrap()
}

/// The bytes of this module's memory.
fn memory_bytes() -> u32 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length()
}

/// 256 writes of 1 MiB at once: one runs, the others are refused `busy` without the download
/// holding a copy of each (before the mailbox was bounded, the memory grew by 256 MiB).
#[wasm_bindgen_test]
async fn writes_not_awaited_are_refused_at_once() {
    let download = blob_download("flood.bin").await;
    let bytes = vec![7u8; 1 << 20];
    let before = memory_bytes();
    let results = join_all((0..256).map(|_| download.write(&bytes))).await;
    let grown = memory_bytes() - before;
    let written = results.iter().filter(|r| r.is_ok()).count();
    let busy = results.iter().filter(|r| matches!(r, Err(SluiceError::Busy))).count();
    assert_eq!((written, busy), (1, 255), "{results:?}");
    assert!(grown < 64 << 20, "the wasm memory grew by {grown} B");
    download.abort("done testing");
    assert!(matches!(download.done().await, Err(SluiceError::Download(_))));
}

/// An abort while the mailbox is full still fails the download, with its reason.
#[wasm_bindgen_test]
async fn an_abort_behind_a_full_mailbox_is_not_lost() {
    let download = blob_download("aborted.bin").await;
    let writes: Vec<_> = (0..8).map(|_| download.write(b"bytes")).collect();
    let writes = join_all(writes);
    let abort = async {
        download.abort("the user changed their mind");
    };
    let (_, ()) = futures::join!(writes, abort);
    let e = download.done().await.unwrap_err();
    assert_eq!(e.code(), "aborted", "{e}");
    assert!(e.to_string().contains("the user changed their mind"), "{e}");
}

/// A sink whose close failed answers every later close with that failure, never `Ok`.
#[wasm_bindgen_test]
async fn a_failed_close_stays_failed() {
    use futures::SinkExt;
    let download = blob_download("closed.bin").await;
    let mut sink = download.clone().into_sink();
    sink.send(b"bytes".to_vec()).await.unwrap();
    download.abort("the user changed their mind");
    let first = sink.close().await.unwrap_err();
    assert_eq!(first.code(), "aborted", "{first}");
    assert_eq!(sink.close().await, Err(first));
}
