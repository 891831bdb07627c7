//! Sluice's page side, built into `dist/sluice.js` (an ES module).
//!
//! The writer, registration and detection come with the issue "download engine"; for now the
//! module exposes what the protocol core computes, so a page can check that the build works.

use wasm_bindgen::prelude::*;

/// The Sluice build and wire version, e.g. `sluice 0.1.0 (wire 1)`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("sluice {} (wire {})", env!("CARGO_PKG_VERSION"), sluice_core::WIRE_VERSION)
}

/// The `Content-Disposition` header Sluice sends for a file name.
#[wasm_bindgen(js_name = contentDisposition)]
pub fn content_disposition(name: &str) -> String {
    sluice_core::content_disposition(name)
}

/// A fresh random download id (32 hex digits), from the browser's secure random source.
#[wasm_bindgen(js_name = newDownloadId)]
pub fn new_download_id() -> Result<String, JsError> {
    Ok(sluice_core::DownloadId::random()?.to_string())
}
