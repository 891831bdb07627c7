//! What callers pass in, checked before anything is sent: caller mistakes are
//! [`SluiceError::InvalidArgument`] or [`SluiceError::TooLarge`], never a browser error.

use sluice_core::wire::{MAX_SAFE_INTEGER, MAX_TEXT_BYTES};
use sluice_core::{FileMeta, ForcedMode, Mode};

use crate::error::SluiceError;

/// How a download reaches the browser's download manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// A hidden iframe opens the URL (removed when the download is done).
    #[default]
    Iframe,
    /// The page navigates to the URL.
    Navigate,
    /// The caller opens the download's URL itself (e.g. `fetch` in tests).
    None,
}

/// `'iframe'` (the default), `'navigate'` or `'none'`.
pub fn parse_trigger(name: Option<&str>) -> Result<Trigger, SluiceError> {
    match name {
        None | Some("iframe") => Ok(Trigger::Iframe),
        Some("navigate") => Ok(Trigger::Navigate),
        Some("none") => Ok(Trigger::None),
        Some(other) => {
            Err(SluiceError::InvalidArgument(format!("trigger must be iframe, navigate or none, not \"{other}\"")))
        }
    }
}

/// `'auto'` (the default), or one rung: `'picker'`, `'transfer'`, `'fallback'`, `'opfs'`, `'blob'`.
pub fn parse_mode(name: Option<&str>) -> Result<ForcedMode, SluiceError> {
    match name {
        None | Some("auto") => Ok(ForcedMode::Auto),
        Some(name) => Mode::from_name(name).map(ForcedMode::Only).ok_or_else(|| {
            SluiceError::InvalidArgument(format!(
                "mode must be auto, picker, transfer, fallback, opfs or blob, not \"{name}\""
            ))
        }),
    }
}

/// `'warn'` (the default), `'error'`, `'info'`, `'debug'`, `'trace'` or `'off'`.
pub fn parse_log_level(name: Option<&str>) -> Result<log::LevelFilter, SluiceError> {
    match name {
        None => Ok(log::LevelFilter::Warn),
        Some(name) => name.parse().map_err(|_| {
            SluiceError::InvalidArgument(format!(
                "logLevel must be off, error, warn, info, debug or trace, not \"{name}\""
            ))
        }),
    }
}

/// A JavaScript number as a size in bytes: a whole number from 0 to 2^53 - 1.
pub fn parse_size(n: f64) -> Result<u64, SluiceError> {
    parse_whole("size", n, MAX_SAFE_INTEGER)
}

/// A JavaScript number as a whole number from 0 to `max` (and at most 2^53 - 1); `what`
/// names it in the error.
pub fn parse_whole(what: &str, n: f64, max: u64) -> Result<u64, SluiceError> {
    let max = max.min(MAX_SAFE_INTEGER);
    if n >= 0.0 && n.fract() == 0.0 && n <= max as f64 {
        Ok(n as u64)
    } else {
        Err(SluiceError::InvalidArgument(format!("{what} must be a whole number from 0 to {max}, not {}", shown(n))))
    }
}

/// A number for an error text, without float formatting (which would weigh 8 KB in the wasm).
fn shown(n: f64) -> String {
    match n {
        n if n.is_nan() => "NaN".into(),
        n if n.is_infinite() => if n > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        n if n.fract() == 0.0 && n.abs() < 1e18 => (n as i64).to_string(),
        _ => "a fraction".into(),
    }
}

/// What the service worker would refuse, refused here first.
pub fn check_meta(meta: &FileMeta) -> Result<(), SluiceError> {
    for (what, text) in
        [("file name", meta.name.as_str()), ("content type", meta.content_type.as_deref().unwrap_or(""))]
    {
        if text.len() > MAX_TEXT_BYTES {
            return Err(SluiceError::TooLarge { what, bytes: text.len(), max: MAX_TEXT_BYTES });
        }
    }
    if let Some(size) = meta.size {
        parse_size(size as f64)?;
    }
    sluice_core::response_headers(meta).map_err(|e| SluiceError::InvalidArgument(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, content_type: Option<&str>, size: Option<u64>) -> FileMeta {
        FileMeta { name: name.into(), size, content_type: content_type.map(Into::into) }
    }

    #[test]
    fn caller_mistakes_have_their_own_codes() {
        assert_eq!(parse_trigger(Some("popup")).unwrap_err().code(), "invalid_argument");
        assert_eq!(parse_mode(Some("fast")).unwrap_err().code(), "invalid_argument");
        assert_eq!(parse_mode(Some("opfs")).unwrap(), ForcedMode::Only(Mode::Opfs));
        assert_eq!(parse_mode(None).unwrap(), ForcedMode::Auto);
        assert_eq!(parse_log_level(Some("loud")).unwrap_err().code(), "invalid_argument");
        assert_eq!(parse_log_level(Some("debug")).unwrap(), log::LevelFilter::Debug);
        for bad in [-1.0, 1.5, f64::NAN, 2f64.powi(53), f64::INFINITY] {
            assert_eq!(parse_size(bad).unwrap_err().code(), "invalid_argument", "{bad}");
        }
        assert_eq!(parse_size(0.0).unwrap(), 0);
        assert_eq!(parse_whole("windowChunks", 8.0, u64::from(u32::MAX)).unwrap(), 8);
        for bad in [4_294_967_296.0, -1.0, 0.5, f64::NAN] {
            let e = parse_whole("windowChunks", bad, u64::from(u32::MAX)).unwrap_err();
            assert!(e.to_string().contains("windowChunks must be a whole number"), "{e}");
            assert!(!e.to_string().ends_with("not "), "{e}");
        }
        let long = "x".repeat(5000);
        let e = check_meta(&meta(&long, None, None)).unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert!(e.to_string().contains("5000 bytes"), "{e}");
        assert_eq!(check_meta(&meta("a", Some(&long), None)).unwrap_err().code(), "too_large");
        assert_eq!(check_meta(&meta("a", Some("nope"), None)).unwrap_err().code(), "invalid_argument");
        assert_eq!(check_meta(&meta("a", None, Some(1 << 53))).unwrap_err().code(), "invalid_argument");
        assert!(check_meta(&meta(&"x".repeat(4096), Some("text/csv"), Some(3))).is_ok());
    }

    #[test]
    fn service_worker_codes_map_to_page_codes() {
        use sluice_core::wire::ErrorCode;
        let code = |c| SluiceError::from_remote(c, "x".into()).code();
        assert_eq!(code(ErrorCode::Expired), "expired");
        assert_eq!(code(ErrorCode::TooManyDownloads), "too_many_downloads");
        assert_eq!(code(ErrorCode::InvalidArgument), "invalid_argument");
        assert_eq!(code(ErrorCode::Internal), "failed");
        let gone: SluiceError = sluice_worker_bus::BusError::Timeout(std::time::Duration::from_secs(1)).into();
        assert_eq!(gone.code(), "service_worker_gone");
    }
}
