//! The page side's errors: one variant, and one `code` for JavaScript, per cause.

use std::time::Duration;

use sluice_core::window::SendError;
use sluice_core::wire::ErrorCode;
use sluice_core::zip::ZipError;
use sluice_core::Unsupported;
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
    #[error("the service worker stopped answering (no reply within {} ms)", .0.as_millis() as u64)]
    ServiceWorkerGone(Duration),
    /// The download cannot go on (closed, aborted, cancelled by the consumer, size mismatch...).
    #[error(transparent)]
    Download(#[from] SendError),
    /// The caller passed something Sluice cannot use (a bad size, mode, trigger or type).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A file name or content type is longer than the wire carries.
    #[error("the {what} is {bytes} bytes long; at most {max} bytes are allowed")]
    TooLarge {
        /// What was too long.
        what: &'static str,
        /// Its length in UTF-8 bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The save does not fit: the site's storage is full (over `blobLimit`: `SendError::OverLimit`).
    #[error("the file does not fit: {0}")]
    NoRoom(String),
    /// Nobody requested the download's URL in time.
    #[error("the download expired: {0}")]
    Expired(String),
    /// The service worker has too many downloads open; let one finish first.
    #[error("too many downloads are open: {0}")]
    TooManyDownloads(String),
    /// The service worker refused the download.
    #[error("the service worker refused the download: {0}")]
    Refused(String),
    /// A write or close was called while another one of the same download still ran.
    #[error("another write or close of this download is still running; await it first")]
    Busy,
    /// `Sluice.close()` was called: no new downloads, and open ones failed.
    #[error("this Sluice was closed")]
    SluiceClosed,
    /// The message bus failed.
    #[error("message bus: {0}")]
    Bus(BusError),
    /// A zip archive's caller mistake (a name, an entry that was not declared, an order) or an
    /// entry whose data was not its size.
    #[error("zip: {0}")]
    Zip(#[from] ZipError),
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
            SluiceError::Download(SendError::Closed) | SluiceError::SluiceClosed => "closed",
            SluiceError::Download(SendError::OverLimit { .. }) => "too_large",
            SluiceError::Download(_) => "failed",
            SluiceError::InvalidArgument(_) => "invalid_argument",
            SluiceError::TooLarge { .. } | SluiceError::NoRoom(_) => "too_large",
            SluiceError::Expired(_) => "expired",
            SluiceError::TooManyDownloads(_) => "too_many_downloads",
            SluiceError::Refused(_) => "refused",
            SluiceError::Busy => "busy",
            SluiceError::Bus(_) => "bus",
            SluiceError::Zip(ZipError::SizeMismatch { .. }) => "size_mismatch",
            SluiceError::Zip(ZipError::TooLarge) => "too_large",
            SluiceError::Zip(_) => "invalid_argument",
            SluiceError::Browser(_) => "browser",
        }
    }

    /// What the service worker's error `code` means for the page.
    pub fn from_remote(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::Expired => SluiceError::Expired(message),
            ErrorCode::TooManyDownloads => SluiceError::TooManyDownloads(message),
            ErrorCode::InvalidArgument => SluiceError::InvalidArgument(message),
            ErrorCode::Protocol | ErrorCode::Internal | ErrorCode::Gone => {
                SluiceError::Download(SendError::Failed(message))
            }
            ErrorCode::Malformed | ErrorCode::VersionMismatch | ErrorCode::NoSuchActor | ErrorCode::TooLarge => {
                SluiceError::Refused(message)
            }
        }
    }

    /// The error a JavaScript exception stands for.
    #[cfg(target_arch = "wasm32")]
    pub fn browser(e: &wasm_bindgen::JsValue) -> Self {
        SluiceError::Browser(sluice_web::describe(e))
    }
}

impl From<BusError> for SluiceError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Timeout(after) => SluiceError::ServiceWorkerGone(after),
            BusError::Remote { code, message } => SluiceError::from_remote(code, message),
            BusError::PeerBroken(why) => SluiceError::Registration(why),
            other => SluiceError::Bus(other),
        }
    }
}

#[cfg(target_arch = "wasm32")]
impl From<wasm_bindgen::JsValue> for SluiceError {
    fn from(e: wasm_bindgen::JsValue) -> Self {
        SluiceError::browser(&e)
    }
}

#[cfg(test)]
mod tests {
    /// The quoted strings of `text` between `start` and the next `end`.
    fn quoted(text: &str, start: &str, end: &str) -> Vec<String> {
        let from = text.find(start).expect(start) + start.len();
        let part = &text[from..from + text[from..].find(end).expect(end)];
        let mut codes: Vec<String> = part.split(['"', '\'']).skip(1).step_by(2).map(String::from).collect();
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn the_typescript_union_lists_every_code() {
        let rust = quoted(include_str!("error.rs"), "pub fn code(&self) -> &'static str {", "\n    }\n");
        let typescript = quoted(include_str!("js.rs"), "export type SluiceErrorCode =", ";");
        assert_eq!(rust.len(), 16, "{rust:?}");
        assert_eq!(rust, typescript);
    }
}
