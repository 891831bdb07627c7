//! A small static server for the demo site: `dist/` over `compat-tests/demo/`, on 127.0.0.1;
//! `/streamsaver/` serves the pinned StreamSaver.js package unmodified (for `cargo xtask bench`);
//! `/streamsaver-examples/` serves its examples with one line changed: the script tag that loads
//! StreamSaver.js loads Sluice's drop-in (`/streamsaver.js`) instead; `/bundled/` serves the
//! bundler test app's builds (`target/bundlers/out/`, made by `cargo xtask test`);
//! `/paced/<bytes>?rate=<bytes per second>` serves the test file's bytes slowly, like a slow
//! network source (its own thread, so the site stays served meanwhile).

use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Response, Server};

use crate::util::{step, Fail};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ts" | "md" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file for a request path, looked up in each root (a URL prefix and a folder) in turn;
/// `None` for anything that is not a plain relative path to an existing file.
fn resolve(roots: &[(&str, PathBuf)], url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    roots.iter().find_map(|(prefix, root)| {
        let rest = path.strip_prefix('/')?.strip_prefix(prefix)?;
        resolve_in(root, rest)
    })
}

fn resolve_in(root: &Path, path: &str) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let part = Path::new(part);
        if part.components().count() != 1 || !matches!(part.components().next(), Some(Component::Normal(_))) {
            return None;
        }
        relative.push(part);
    }
    if relative.as_os_str().is_empty() {
        relative.push("index.html");
    }
    Some(root.join(relative)).filter(|p| p.is_file())
}

/// Serves until killed.
pub fn serve(root: &Path, port: u16) -> Result<(), Fail> {
    let roots = [
        ("streamsaver/", root.join("node_modules").join("streamsaver")),
        (EXAMPLES, root.join("node_modules").join("streamsaver").join("examples")),
        ("bundled/", root.join("target").join("bundlers").join("out")),
        ("", root.join("dist")),
        ("", root.join("compat-tests").join("demo")),
    ];
    let addr = format!("127.0.0.1:{port}");
    let server = Server::http(&addr).map_err(|e| Fail(format!("cannot listen on {addr}: {e}")))?;
    step(&format!("serving the demo on http://{addr}/ (Ctrl-C to stop)"));
    for request in server.incoming_requests() {
        if let Some((size, rate)) = paced(request.url()) {
            std::thread::spawn(move || {
                let body = Paced { at: 0, size, rate, start: std::time::Instant::now() };
                let _ = request.respond(Response::new(200.into(), Vec::new(), body, Some(size as usize), None));
            });
            continue;
        }
        let file = resolve(&roots, request.url());
        let result = match file.and_then(|f| std::fs::read(&f).ok().map(|body| (f, body))) {
            Some((file, body)) => {
                let body = if request.url().starts_with(&format!("/{EXAMPLES}")) { with_drop_in(body) } else { body };
                let mut response = Response::from_data(body);
                for (name, value) in [("Content-Type", content_type(&file)), ("Cache-Control", "no-cache")] {
                    if let Ok(header) = Header::from_bytes(name, value) {
                        response.add_header(header);
                    }
                }
                request.respond(response)
            }
            None => request.respond(Response::from_string("not found").with_status_code(404)),
        };
        if let Err(e) = result {
            eprintln!("    response failed: {e}");
        }
    }
    Ok(())
}

/// Where StreamSaver's own examples are served, loading Sluice's drop-in.
const EXAMPLES: &str = "streamsaver-examples/";

/// An example page of StreamSaver's with its one line that loads StreamSaver.js loading the
/// drop-in instead (the page is one folder below the site's root, like the drop-in's siblings).
fn with_drop_in(body: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(body) {
        Ok(page) => page
            .replace(r#"<script src="../StreamSaver.js"></script>"#, r#"<script src="../streamsaver.js"></script>"#)
            .into_bytes(),
        Err(e) => e.into_bytes(),
    }
}

/// The size and rate of `/paced/<bytes>?rate=<bytes per second>`.
fn paced(url: &str) -> Option<(u64, u64)> {
    let (size, rate) = url.strip_prefix("/paced/")?.split_once("?rate=")?;
    Some((size.parse().ok()?, rate.parse().ok().filter(|&r| r > 0)?))
}

/// The test file's bytes (compat-tests/data.ts `byteAt`), no faster than `rate` bytes a second.
struct Paced {
    at: u64,
    size: u64,
    rate: u64,
    start: std::time::Instant,
}

impl std::io::Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let due = std::time::Duration::from_secs_f64(self.at as f64 / self.rate as f64);
        std::thread::sleep(due.saturating_sub(self.start.elapsed()));
        let n = buf.len().min(self.size.saturating_sub(self.at) as usize).min(65536);
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            *byte = byte_at(self.at + i as u64);
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Byte `p` of the test file.
fn byte_at(p: u64) -> u8 {
    (((p as u32).wrapping_mul(2_654_435_761) >> 24) ^ (p / 1_048_576) as u32) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_urls_and_bytes() {
        assert_eq!(paced("/paced/1000?rate=10"), Some((1000, 10)));
        assert_eq!(paced("/paced/1000?rate=0"), None);
        assert_eq!(paced("/paced/x?rate=1"), None);
        assert_eq!(paced("/paced/1000"), None);
        // What compat-tests/data.ts byteAt gives.
        assert_eq!([byte_at(0), byte_at(1), byte_at(1_048_577), byte_at(123_456_789)], [0, 158, 56, 10]);
    }

    #[test]
    fn examples_load_the_drop_in() {
        let page = b"<p>x</p>\n<script src=\"../StreamSaver.js\"></script>\n".to_vec();
        assert_eq!(with_drop_in(page), b"<p>x</p>\n<script src=\"../streamsaver.js\"></script>\n".to_vec());
    }

    #[test]
    fn resolves_only_files_below_the_roots() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let roots = [("x/", root.to_path_buf()), ("", root.join("src"))];
        assert_eq!(resolve(&roots, "/main.rs?x=1"), Some(root.join("src/main.rs")));
        assert_eq!(resolve(&roots, "/x/Cargo.toml"), Some(root.join("Cargo.toml")));
        assert_eq!(resolve(&roots, "/../Cargo.toml"), None);
        assert_eq!(resolve(&roots, "/x/../Cargo.toml"), None);
        assert_eq!(resolve(&roots, "/nope.rs"), None);
        assert_eq!(resolve(&roots, "/"), None);
    }
}
