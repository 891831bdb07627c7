//! Download ids and the URLs the service worker answers.
//!
//! A download lives at `<scope>sluice/<id>/<percent-encoded filename>`, where `scope` is the
//! service worker's registration scope (an absolute URL ending in `/`) and `id` is 32 lowercase
//! hex digits. [`DownloadUrl::parse`] accepts exactly that shape; anything else is not ours and
//! the service worker must leave the request alone.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What follows `<scope>sluice/` in a URL the service worker answers, as a JavaScript regular
/// expression: a download ([`DownloadUrl::parse`]) or the interception self-test. The shim
/// (`sw-readable/js/shim.js`) decides by this before the wasm runs; a test keeps the two equal.
pub const URL_PATTERN: &str = r"^([0-9a-f]{32}\/[^/?#]+|probe)$";

/// Path segment between the scope and the id.
const PREFIX: &str = "sluice/";

/// Bytes kept as they are in a URL path segment: RFC 3986 unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A 128-bit random download id, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DownloadId(u128);

/// A string that is not 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a download id is 32 lowercase hex digits, got \"{0}\"")]
pub struct InvalidId(pub String);

impl DownloadId {
    /// A fresh id from the platform's secure random source (`crypto.getRandomValues` on the web).
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes)?;
        Ok(Self(u128::from_be_bytes(bytes)))
    }

    /// The id with these 128 bits (tests and replays).
    pub const fn from_u128(bits: u128) -> Self {
        Self(bits)
    }

    /// The 128 bits of this id.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for DownloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for DownloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DownloadId({self})")
    }
}

impl FromStr for DownloadId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match well_formed.then(|| u128::from_str_radix(s, 16)) {
            Some(Ok(bits)) => Ok(Self(bits)),
            _ => Err(InvalidId(s.chars().take(64).collect())),
        }
    }
}

impl TryFrom<String> for DownloadId {
    type Error = InvalidId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DownloadId> for String {
    fn from(id: DownloadId) -> Self {
        id.to_string()
    }
}

/// The title of the service worker's answer to [`DownloadUrl::probe`].
pub const PROBE_TITLE: &str = "sluice-intercepts";

/// A parsed service-worker download URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadUrl {
    /// The download this URL serves.
    pub id: DownloadId,
    /// The file name, percent-decoded.
    pub filename: String,
}

impl DownloadUrl {
    /// The URL of download `id` under `scope`. `filename` should already be sanitized
    /// ([`crate::sanitize_filename`]); it is percent-encoded here.
    pub fn build(scope: &str, id: DownloadId, filename: &str) -> String {
        let slash = if scope.ends_with('/') { "" } else { "/" };
        let name = utf8_percent_encode(filename, PATH_SEGMENT);
        format!("{scope}{slash}{PREFIX}{id}/{name}")
    }

    /// The URL of the interception self-test under `scope`: the service worker answers a
    /// navigation to it with a page titled [`PROBE_TITLE`]; a request that bypasses the worker
    /// (a hard reload, "bypass for network") reaches the server instead.
    pub fn probe(scope: &str) -> String {
        let slash = if scope.ends_with('/') { "" } else { "/" };
        format!("{scope}{slash}{PREFIX}probe")
    }

    /// Whether `url` is [`DownloadUrl::probe`] of `scope`.
    pub fn is_probe(scope: &str, url: &str) -> bool {
        url == Self::probe(scope)
    }

    /// Parses `url` if it is a download URL under `scope`; `None` means "not ours".
    ///
    /// Accepted: `<scope>sluice/<32 lowercase hex>/<non-empty segment>`, with no further `/`,
    /// no query and no fragment: [`URL_PATTERN`] after `<scope>sluice/`, the service worker's shim
    /// decides by the same (bytes that are no UTF-8 become U+FFFD in `filename`).
    pub fn parse(scope: &str, url: &str) -> Option<Self> {
        let scope = scope.strip_suffix('/').unwrap_or(scope);
        let rest = url.strip_prefix(scope)?.strip_prefix('/')?.strip_prefix(PREFIX)?;
        let (id, name) = rest.split_once('/')?;
        if name.is_empty() || name.contains(['/', '?', '#']) {
            return None;
        }
        let id = id.parse().ok()?;
        let filename = percent_decode_str(name).decode_utf8_lossy().into_owned();
        Some(Self { id, filename })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_url_is_no_download_url() {
        let probe = DownloadUrl::probe("http://127.0.0.1:8080/app/");
        assert_eq!(probe, "http://127.0.0.1:8080/app/sluice/probe");
        assert_eq!(DownloadUrl::probe("http://127.0.0.1:8080/app"), probe);
        assert!(DownloadUrl::is_probe("http://127.0.0.1:8080/app/", &probe));
        assert!(!DownloadUrl::is_probe("http://127.0.0.1:8080/", &probe));
        assert!(DownloadUrl::parse("http://127.0.0.1:8080/app/", &probe).is_none());
    }

    const SCOPE: &str = "http://127.0.0.1:8080/app/";

    #[test]
    fn ids_are_random_and_round_trip() {
        let a = DownloadId::random().unwrap();
        let b = DownloadId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.to_string().parse::<DownloadId>().unwrap(), a);
    }

    #[test]
    fn id_parser_is_strict() {
        for bad in ["", "0", &"A".repeat(32), &"g".repeat(32), &"0".repeat(33), "+0000000000000000000000000000000"] {
            assert!(bad.parse::<DownloadId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn url_round_trip() {
        let id = DownloadId::from_u128(0xabc);
        let url = DownloadUrl::build(SCOPE, id, "résumé 2026.pdf");
        assert_eq!(
            url,
            "http://127.0.0.1:8080/app/sluice/00000000000000000000000000000abc/r%C3%A9sum%C3%A9%202026.pdf"
        );
        let parsed = DownloadUrl::parse(SCOPE, &url).unwrap();
        assert_eq!(parsed, DownloadUrl { id, filename: "résumé 2026.pdf".into() });
        // A scope given without its trailing slash means the same.
        assert_eq!(DownloadUrl::parse("http://127.0.0.1:8080/app", &url), Some(parsed));
    }

    #[test]
    fn a_name_that_is_no_utf8_is_still_ours_as_the_shim_says() {
        let id = "00000000000000000000000000000abc";
        let url = format!("http://127.0.0.1:8080/app/sluice/{id}/%FF.txt");
        assert_eq!(DownloadUrl::parse(SCOPE, &url).map(|u| u.filename), Some("\u{FFFD}.txt".into()));
    }

    #[test]
    fn the_shim_decides_by_the_same_pattern() {
        let shim = include_str!("../../sw-readable/js/shim.js");
        assert!(shim.contains(&format!("/{URL_PATTERN}/.test(")), "shim.js must test URLs with /{URL_PATTERN}/");
    }

    #[test]
    fn anything_else_is_not_ours() {
        let id = "00000000000000000000000000000abc";
        for url in [
            "http://127.0.0.1:8080/app/index.html".to_string(),
            format!("http://127.0.0.1:8080/other/sluice/{id}/a.txt"),
            format!("http://127.0.0.1:8080/app/sluice/{id}/"),
            format!("http://127.0.0.1:8080/app/sluice/{id}"),
            format!("http://127.0.0.1:8080/app/sluice/{id}/a/b.txt"),
            format!("http://127.0.0.1:8080/app/sluice/{id}/a.txt?x=1"),
            format!("http://127.0.0.1:8080/app/sluice/{id}/a.txt#f"),
            format!("http://127.0.0.1:8080/app/sluice/{}/a.txt", id.to_uppercase()),
            format!("http://127.0.0.1:8080/app/xsluice/{id}/a.txt"),
            format!("http://127.0.0.1:8080/appsluice/{id}/a.txt"),
            "http://127.0.0.1:8080/app/sluice/xyz/a.txt".to_string(),
        ] {
            assert_eq!(DownloadUrl::parse(SCOPE, &url), None, "{url}");
        }
    }
}
