//! The actor bus over `postMessage` (placeholder: the issue "worker-bus" builds it).
//!
//! It will carry [`sluice_core::Frame`]s between page and service worker, correlate requests
//! with their replies and route messages to one actor per download.

pub use sluice_core::{Envelope, Frame, Message, RequestId};
