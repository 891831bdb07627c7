//! Sluice's service-worker side, built into `dist/sluice-sw.js` (a classic script).
//!
//! Fetch interception and the streams of both paths come with the issue "download engine".

use wasm_bindgen::prelude::*;

/// The Sluice build and wire version, e.g. `sluice 0.1.0 (wire 1)`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("sluice {} (wire {})", env!("CARGO_PKG_VERSION"), sluice_core::WIRE_VERSION)
}
