//! A small static server for the demo site: `dist/` over `compat-tests/demo/`, on 127.0.0.1;
//! `/streamsaver/` and `/client-zip/` serve the pinned StreamSaver.js and client-zip packages
//! unmodified (for `cargo xtask bench`);
//! `/streamsaver-examples/` serves its examples with one line changed: the script tag that loads
//! StreamSaver.js loads Sluice's drop-in (`/streamsaver.js`) instead; `/bundled/` serves the
//! bundler test app's builds (`target/bundlers/out/`, made by `cargo xtask test`); `/examples/`
//! the example apps (`examples/`, and what `cargo xtask build` made of them in `target/examples/`);
//! `/paced/<bytes>?rate=<bytes per second>` serves the test file's bytes slowly, like a slow
//! network source (its own thread, so the site stays served meanwhile); `/broken/` serves
//! deployments broken on purpose ([`broken`]).

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
        ("client-zip/", root.join("node_modules").join("client-zip")),
        (EXAMPLES, root.join("node_modules").join("streamsaver").join("examples")),
        ("bundled/", root.join("target").join("bundlers").join("out")),
        ("examples/", root.join("examples")),
        ("examples/", root.join("target").join("examples")),
        ("", root.join("dist")),
        ("", root.join("compat-tests").join("demo")),
    ];
    let addr = format!("127.0.0.1:{port}");
    let server = Server::http(&addr).map_err(|e| Fail(format!("cannot listen on {addr}: {e}")))?;
    step(&format!("serving the demo on http://{addr}/ (Ctrl-C to stop)"));
    object_store(port);
    for request in server.incoming_requests() {
        if let Some((size, rate)) = paced(request.url()) {
            std::thread::spawn(move || {
                let body = Paced { at: 0, size, rate, start: std::time::Instant::now() };
                let _ = request.respond(Response::new(200.into(), Vec::new(), body, Some(size as usize), None));
            });
            continue;
        }
        if let Some(broken) = request.url().strip_prefix("/broken/later/").and_then(|r| r.strip_suffix("-now")) {
            // `later`'s wasm goes missing (`break-now`) or comes back (`mend-now`).
            let broken = broken == "break";
            LATER_BROKEN.store(broken, std::sync::atomic::Ordering::Relaxed);
            let answer = Response::from_string(if broken { "broken" } else { "mended" });
            let _ = request.respond(answer);
            continue;
        }
        let file = match request.url().strip_prefix("/broken/") {
            Some(rest) => broken(root, rest),
            None => resolve(&roots, request.url()),
        };
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

/// `/broken/<case>/<file>`: deployments broken on purpose (compat-tests/specs/deploy.spec.ts):
/// `no-wasm` serves `sluice-sw.js` without the wasm beside it; `no-worker` serves nothing;
/// `dev-server` answers every file with an HTML page, as a dev server answers a missing one;
/// `other-version` serves another module (an example app's) as `sluice_bg.wasm`; `imported` serves
/// an app's own service worker (`app-sw.js`) importing `sluice-sw.js`, without the wasm; `later`
/// is whole until `/broken/later/break-now` (then its wasm is missing) and `mend-now`.
fn broken(root: &Path, rest: &str) -> Option<PathBuf> {
    let (case, file) = rest.split_once('/')?;
    let example = root.join("target/examples/rust-sink/sluice_example_rust_sink_bg.wasm");
    match (case, file) {
        ("later", "sluice-sw.js") => Some(root.join("dist/sluice-sw.js")),
        ("later", "sluice_bg.wasm") if !LATER_BROKEN.load(std::sync::atomic::Ordering::Relaxed) => {
            Some(root.join("dist/sluice_bg.wasm"))
        }
        ("no-wasm" | "other-version" | "imported", "sluice-sw.js") => Some(root.join("dist/sluice-sw.js")),
        ("imported", "app-sw.js") => Some(root.join("compat-tests/demo/app-sw.js")),
        ("other-version", "sluice_bg.wasm") => Some(example),
        ("dev-server", _) => Some(root.join("compat-tests/demo/index.html")),
        _ => None,
    }
}

/// Whether `/broken/later/`'s wasm is missing now.
static LATER_BROKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// The objects in the example object store (`examples/object-storage/`): each one's key (a
/// hash, as object stores name things) and size (its bytes are the test file's first ones), and
/// the token a request must carry.
const OBJECTS: [(&str, u64); 4] = [
    ("5e884898da28047151d0e56f8dc62927", 24 * 1_048_576 + 11),
    ("0b4e7a0e5fe84ad35fb5f95b9ceeac79", 3 * 1_048_576 + 5),
    ("7c222fb2927d828af22f592134e8932a", 5 * 1_048_576 + 17),
    ("d8578edf8458ce06fbc5bb76a58c5ca4", 1_000),
];
const OBJECT_TOKEN: &str = "Bearer sluice-example-token";

/// How the example object store answers `method url` with `authorization` (status, body size).
fn object_answer(method: &tiny_http::Method, url: &str, authorization: Option<&str>) -> (u16, u64) {
    let key = url.strip_prefix("/objects/");
    let size = OBJECTS.iter().find(|(k, _)| Some(*k) == key).map(|&(_, size)| size);
    match (method, size, authorization == Some(OBJECT_TOKEN)) {
        (tiny_http::Method::Options, _, _) => (204, 0),
        (tiny_http::Method::Get, Some(size), true) => (200, size),
        (tiny_http::Method::Get, Some(_), false) => (401, 0),
        _ => (404, 0),
    }
}

/// A second server, on `port + 1`, for the object-storage example: another origin, answering
/// CORS preflights, serving its objects (the test file's first bytes) only with the token, under
/// a hash and with no `Content-Disposition`, like a bucket behind a signed API.
fn object_store(port: u16) {
    let Some(store) = port.checked_add(1) else { return };
    let server = match Server::http(("127.0.0.1", store)) {
        Ok(server) => server,
        Err(e) => return eprintln!("    no example object store on port {store}: {e}"),
    };
    println!("    the example object store: http://127.0.0.1:{store}/objects/ ({} objects)", OBJECTS.len());
    let site = format!("http://127.0.0.1:{port}");
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let authorization =
                request.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.to_string());
            let (status, size) = object_answer(request.method(), request.url(), authorization.as_deref());
            let body = Paced { at: 0, size, rate: u64::MAX, start: std::time::Instant::now() };
            let mut headers = vec![
                ("Access-Control-Allow-Origin", site.as_str()),
                ("Access-Control-Allow-Methods", "GET"),
                ("Access-Control-Allow-Headers", "Authorization"),
                ("Access-Control-Expose-Headers", "Content-Length"),
            ];
            if status == 200 {
                headers.push(("Content-Type", "application/octet-stream"));
            }
            let headers =
                headers.into_iter().filter_map(|(name, value)| Header::from_bytes(name, value).ok()).collect();
            std::thread::spawn(move || {
                // A Content-Length, as a bucket sends it (tiny_http chunks bodies over 32 KiB).
                let response = Response::new(status.into(), headers, body, Some(size as usize), None);
                let _ = request.respond(response.with_chunked_threshold(usize::MAX));
            });
        }
    });
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
    fn the_object_store_wants_its_token() {
        use tiny_http::Method;
        let (key, size) = OBJECTS[1];
        let url = format!("/objects/{key}");
        assert_eq!(object_answer(&Method::Get, &url, Some(OBJECT_TOKEN)), (200, size));
        assert_eq!(object_answer(&Method::Get, &url, None), (401, 0));
        assert_eq!(object_answer(&Method::Get, &url, Some("Bearer wrong")), (401, 0));
        assert_eq!(object_answer(&Method::Get, "/objects/other", Some(OBJECT_TOKEN)), (404, 0));
        assert_eq!(object_answer(&Method::Options, &url, None), (204, 0));
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
