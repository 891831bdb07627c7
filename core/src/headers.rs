//! File metadata to the headers of the download response (RFC 6266 + RFC 5987).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::wire::FileMeta;

/// The most UTF-8 bytes a file name keeps: below the common file-system limit (255), so that
/// the browser's own suffixes (`.part`, `.crdownload`, ` (1)`) still fit.
pub const MAX_FILENAME_BYTES: usize = 200;

/// An extension longer than this (dot included) is not kept when a name is cut.
const MAX_EXTENSION_BYTES: usize = 32;

/// The `Content-Type` used when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Bytes RFC 5987 lets stand as they are in `filename*` (`attr-char`); all others are encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Why metadata cannot become headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The content type is not `type/subtype` (optionally with `; name=value` parameters).
    #[error("invalid content type \"{0}\": expected type/subtype, e.g. text/csv")]
    InvalidContentType(String),
}

/// A file name that is safe to save: no control or bidi-override characters, no path
/// separators, no leading or trailing spaces and dots, never empty, at most [`MAX_FILENAME_BYTES`] UTF-8 bytes
/// (cut on a character boundary, keeping the extension).
pub fn sanitize_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    let trimmed = trim_name(&cleaned);
    if trimmed.is_empty() {
        return "download".to_string();
    }
    if trimmed.len() <= MAX_FILENAME_BYTES {
        return trimmed.to_string();
    }
    let extension = trimmed
        .rfind('.')
        .filter(|&dot| dot > 0 && trimmed.len() - dot <= MAX_EXTENSION_BYTES)
        .map_or("", |dot| &trimmed[dot..]);
    let stem = &trimmed[..trimmed.len() - extension.len()];
    let stem = cut_to(stem, MAX_FILENAME_BYTES - extension.len());
    let stem = stem.trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    format!("{stem}{extension}")
}

/// The `Content-Disposition` value for `name` (sanitized here):
/// `attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded>`.
pub fn content_disposition(name: &str) -> String {
    let name = sanitize_filename(name);
    let ascii: String = name.chars().map(|c| if !c.is_ascii() || c == '"' || c == '\\' { '_' } else { c }).collect();
    let encoded = utf8_percent_encode(&name, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The exact header list of a download response, in order.
pub fn response_headers(meta: &FileMeta) -> Result<Vec<(&'static str, String)>, HeaderError> {
    let content_type = match meta.content_type.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_CONTENT_TYPE.to_string(),
        Some(given) if is_valid_content_type(given) => given.to_string(),
        Some(given) => return Err(HeaderError::InvalidContentType(given.to_string())),
    };
    let mut headers = vec![("Content-Type", content_type), ("Content-Disposition", content_disposition(&meta.name))];
    if let Some(size) = meta.size {
        headers.push(("Content-Length", size.to_string()));
    }
    headers.extend([
        ("Content-Security-Policy", "default-src 'none'; sandbox".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
    ]);
    Ok(headers)
}

/// Explicit direction marks, embeddings, overrides and isolates (Unicode bidi controls): the
/// invisible marks that reorder text (`photo\u{202E}gpj.exe` shows as `photoexe.jpg`).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn trim_name(name: &str) -> &str {
    name.trim_matches(|c: char| c.is_whitespace() || c == '.')
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_to(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// RFC 7230 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `type/subtype *( OWS ";" OWS name=value )`, value a token or a quoted string.
fn is_valid_content_type(s: &str) -> bool {
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or_default().trim_end();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if !is_token(kind) || !is_token(subtype) {
        return false;
    }
    parts.all(|param| {
        let Some((name, value)) = param.trim().split_once('=') else {
            return false;
        };
        let quoted = value.len() >= 2
            && value.starts_with('"')
            && value.ends_with('"')
            && value[1..value.len() - 1]
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        is_token(name) && (is_token(value) || quoted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, size: Option<u64>, content_type: Option<&str>) -> FileMeta {
        FileMeta { name: name.into(), size, content_type: content_type.map(Into::into) }
    }

    #[test]
    fn disposition_table() {
        let table = [
            ("report.csv", "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv"),
            (
                "résumé 2026.pdf",
                "attachment; filename=\"r_sum_ 2026.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf",
            ),
            ("a\"b\\c/d.txt", "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b_c_d.txt"),
            ("", "attachment; filename=\"download\"; filename*=UTF-8''download"),
            ("...", "attachment; filename=\"download\"; filename*=UTF-8''download"),
        ];
        for (name, expected) in table {
            assert_eq!(content_disposition(name), expected, "{name:?}");
        }
    }

    #[test]
    fn header_injection_is_impossible() {
        let value = content_disposition("evil\r\nSet-Cookie: x.txt");
        assert!(!value.contains(['\r', '\n']), "{value:?}");
        assert_eq!(sanitize_filename("evil\r\nSet-Cookie: x.txt"), "evilSet-Cookie: x.txt");
        for (_, v) in response_headers(&meta("a\r\nb\0c.txt", Some(3), None)).unwrap() {
            assert!(!v.contains(['\r', '\n', '\0']), "{v:?}");
        }
    }

    #[test]
    fn sanitize_rules() {
        assert_eq!(sanitize_filename("  ..hidden.txt. "), "hidden.txt");
        assert_eq!(sanitize_filename("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_filename("a\u{202E}fdp.exe"), "afdp.exe");
        assert_eq!(sanitize_filename("x\u{2066}y\u{200F}z"), "xyz");
        assert_eq!(sanitize_filename("\u{7f}\u{85}\u{1b}"), "download");
        assert_eq!(sanitize_filename(" . \t"), "download");
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.pdf", "é".repeat(200));
        let cut = sanitize_filename(&long);
        assert!(cut.len() <= MAX_FILENAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with("é.pdf"), "{cut}");
        assert_eq!(cut.len(), 200); // 98 two-byte chars + ".pdf"
        let no_ext = "x".repeat(300);
        assert_eq!(sanitize_filename(&no_ext), "x".repeat(200));
        let dot_at_cut = format!("{}. {}", "a".repeat(199), "x".repeat(40));
        assert_eq!(sanitize_filename(&dot_at_cut), "a".repeat(199));
        let huge_ext = format!("a.{}", "y".repeat(300));
        assert_eq!(sanitize_filename(&huge_ext).len(), 200);
    }

    #[test]
    fn exact_header_list() {
        let headers = response_headers(&meta("report.csv", Some(42), Some("text/csv"))).unwrap();
        let expected: Vec<(&str, String)> = vec![
            ("Content-Type", "text/csv".into()),
            ("Content-Disposition", "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv".into()),
            ("Content-Length", "42".into()),
            ("Content-Security-Policy", "default-src 'none'; sandbox".into()),
            ("X-Content-Type-Options", "nosniff".into()),
            ("Cache-Control", "no-store".into()),
            ("Referrer-Policy", "no-referrer".into()),
        ];
        assert_eq!(headers, expected);
    }

    #[test]
    fn unknown_size_has_no_content_length_and_default_type() {
        let headers = response_headers(&meta("a.bin", None, None)).unwrap();
        assert!(headers.iter().all(|(name, _)| *name != "Content-Length"));
        assert_eq!(headers[0], ("Content-Type", DEFAULT_CONTENT_TYPE.to_string()));
        assert_eq!(headers.len(), 6);
    }

    #[test]
    fn content_types_are_validated() {
        for ok in ["text/csv", "text/csv; charset=utf-8", "application/vnd.ms-excel", "a/b;x=\"y z\""] {
            assert!(response_headers(&meta("a", None, Some(ok))).is_ok(), "{ok}");
        }
        for bad in ["text", "text/", "/csv", "text/csv\r\nX: y", "te xt/csv", "text/csv; charset", "a/b/c"] {
            assert_eq!(
                response_headers(&meta("a", None, Some(bad))),
                Err(HeaderError::InvalidContentType(bad.trim().into())),
                "{bad:?}"
            );
        }
    }
}
