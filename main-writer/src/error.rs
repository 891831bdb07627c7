//! The page side's errors.

use std::time::Duration;

use sluice_core::window::SendError;
use sluice_core::{HeaderError, Unsupported};
use sluice_worker_bus::BusError;

/// Why Sluice could not start, or a download failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SluiceError {
    /// Sluice cannot work in this browser or context.
    #[error("Sluice is not supported here: {0}")]
    Unsupported(#[from] Unsupported),
    /// `navigator.serviceWorker.register` failed.
    #[error("registering the service worker failed: {0}")]
    Registration(String),
    /// The service worker did not answer within the timeout (stopped, crashed or updated).
    #[error("the service worker stopped answering (no reply within {0:?})")]
    ServiceWorkerGone(Duration),
    /// The download cannot go on (closed, aborted, cancelled by the consumer, size mismatch...).
    #[error(transparent)]
    Download(#[from] SendError),
    /// The file name or content type cannot become headers.
    #[error("invalid file metadata: {0}")]
    InvalidMeta(#[from] HeaderError),
    /// The service worker refused the download.
    #[error("the service worker refused the download: {0}")]
    Refused(String),
    /// A write or close was called while another one of the same download still ran.
    #[error("another write or close of this download is still running; await it first")]
    Busy,
    /// The message bus failed.
    #[error("message bus: {0}")]
    Bus(BusError),
    /// A browser API failed.
    #[error("{0}")]
    Browser(String),
}

impl SluiceError {
    /// A short, stable kind for JavaScript (`error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            SluiceError::Unsupported(_) => "unsupported",
            SluiceError::Registration(_) => "registration",
            SluiceError::ServiceWorkerGone(_) => "service_worker_gone",
            SluiceError::Download(SendError::Cancelled(_)) => "cancelled",
            SluiceError::Download(SendError::Aborted(_)) => "aborted",
            SluiceError::Download(SendError::SizeMismatch { .. } | SendError::SizeExceeded { .. }) => "size_mismatch",
            SluiceError::Download(SendError::Closed) => "closed",
            SluiceError::Download(_) => "failed",
            SluiceError::InvalidMeta(_) => "invalid_meta",
            SluiceError::Refused(_) => "refused",
            SluiceError::Busy => "busy",
            SluiceError::Bus(_) => "bus",
            SluiceError::Browser(_) => "browser",
        }
    }
}

impl From<BusError> for SluiceError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Timeout(after) => SluiceError::ServiceWorkerGone(after),
            BusError::Remote { message, .. } => SluiceError::Refused(message),
            other => SluiceError::Bus(other),
        }
    }
}

impl From<wasm_bindgen::JsValue> for SluiceError {
    fn from(e: wasm_bindgen::JsValue) -> Self {
        SluiceError::Browser(crate::js::describe(&e))
    }
}
