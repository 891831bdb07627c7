//! A small static server for the demo site: `dist/` over `compat-tests/demo/`, on 127.0.0.1;
//! `/streamsaver/` serves the pinned StreamSaver.js package unmodified (for `cargo xtask bench`).

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
        ("", root.join("dist")),
        ("", root.join("compat-tests").join("demo")),
    ];
    let addr = format!("127.0.0.1:{port}");
    let server = Server::http(&addr).map_err(|e| Fail(format!("cannot listen on {addr}: {e}")))?;
    step(&format!("serving the demo on http://{addr}/ (Ctrl-C to stop)"));
    for request in server.incoming_requests() {
        let file = resolve(&roots, request.url());
        let result = match file.and_then(|f| std::fs::read(&f).ok().map(|body| (f, body))) {
            Some((file, body)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

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
