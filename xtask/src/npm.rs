//! The npm package (`cargo xtask pack`), and the scratch app that installs its tarball and bundles
//! it with esbuild and with Vite, as a user would (`target/bundlers/`, served under `/bundled/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, copy, step, Fail};

/// What the package holds from `dist/` (its `package.json` lists the same `files`).
const FILES: [&str; 8] = [
    "sluice.js",
    "sluice.d.ts",
    "sluice_bg.wasm",
    "sluice_bg.wasm.d.ts",
    "sluice-sw.js",
    "sluice-sw.d.ts",
    "streamsaver.js",
    "streamsaver.d.ts",
];

/// The service worker's files, which a site serves as they are (never bundled): its script and
/// the module it loads (the page's bundle has its own copy of that).
const SERVICE_WORKER: [&str; 2] = ["sluice-sw.js", "sluice_bg.wasm"];

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Fail {
    let message = format!("cannot {what} {}", path.display());
    move |e| Fail(format!("{message}: {e}"))
}

fn fresh_dir(dir: &Path) -> Result<(), Fail> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(io("create", dir))
}

/// Packs `dist/` (built) into `target/npm/sluice-<version>.tgz`; returns the tarball's path.
pub fn pack(root: &Path) -> Result<PathBuf, Fail> {
    let manifest_path = root.join("npm/package.json");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(io("read", &manifest_path))?;
    let json: serde_json::Value =
        serde_json::from_str(&manifest).map_err(|e| Fail(format!("{}: {e}", manifest_path.display())))?;
    let version = env!("CARGO_PKG_VERSION");
    if json["version"] != version {
        return Err(Fail(format!(
            "npm/package.json has version {}, the crates {version}: keep them in step",
            json["version"]
        )));
    }
    let listed: Vec<&str> = json["files"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).collect();
    if let Some(missing) = FILES.iter().find(|f| !listed.contains(f)) {
        return Err(Fail(format!("npm/package.json's files do not list {missing}")));
    }
    step(&format!("npm package sluice {version} (npm pack -> target/npm/)"));
    let out = root.join("target/npm");
    let staging = out.join("package");
    fresh_dir(&staging)?;
    for file in FILES {
        copy(&root.join("dist").join(file), &staging.join(file))?;
    }
    copy(&root.join("README.md"), &staging.join("README.md"))?;
    copy(&manifest_path, &staging.join("package.json"))?;
    util::run(Command::new("npm").current_dir(&staging).args(["pack", "--silent", "--pack-destination"]).arg(&out))?;
    let tarball = out.join(format!("sluice-{version}.tgz"));
    if !tarball.is_file() {
        return Err(Fail(format!("npm pack wrote no {}", tarball.display())));
    }
    println!("    {}", tarball.display());
    Ok(tarball)
}

/// Installs the tarball into a copy of `compat-tests/bundlers/` and bundles it the two ways the
/// README says: `target/bundlers/out/esbuild/` and `target/bundlers/out/vite/`.
pub fn bundle_test_app(root: &Path, tarball: &Path) -> Result<(), Fail> {
    let base = root.join("target/bundlers");
    let app = base.join("app");
    let out = base.join("out");
    fresh_dir(&app)?;
    fresh_dir(&out)?;
    let source = root.join("compat-tests/bundlers");
    for file in ["package.json", "main.js", "index.html"] {
        copy(&source.join(file), &app.join(file))?;
    }
    step("bundler test app: npm install the tarball, esbuild and vite (target/bundlers/app)");
    let npm = || {
        let mut cmd = Command::new("npm");
        cmd.current_dir(&app).args(["--no-audit", "--no-fund", "--loglevel=error"]);
        cmd
    };
    util::run(npm().arg("install"))?;
    util::run(npm().arg("install").arg(tarball))?;
    let installed = app.join("node_modules/sluice");

    step("bundler test app: esbuild (the wasm copied beside the bundle, the service worker beside the page)");
    let esbuild = out.join("esbuild");
    fresh_dir(&esbuild)?;
    util::run(
        Command::new("npx")
            .current_dir(&app)
            .args(["esbuild", "main.js", "--bundle", "--format=esm", "--log-level=warning"])
            .arg(format!("--outfile={}", esbuild.join("main.js").display())),
    )?;
    copy(&app.join("index.html"), &esbuild.join("index.html"))?;
    // The service worker's two files, of which the wasm is also the page bundle's.
    for file in SERVICE_WORKER {
        copy(&installed.join(file), &esbuild.join(file))?;
    }

    step("bundler test app: vite build (the service worker in public/)");
    let public = app.join("public");
    fresh_dir(&public)?;
    for file in SERVICE_WORKER {
        copy(&installed.join(file), &public.join(file))?;
    }
    util::run(
        Command::new("npx")
            .current_dir(&app)
            .args(["vite", "build", "--base", "./", "--logLevel", "warn", "--emptyOutDir", "--outDir"])
            .arg(out.join("vite")),
    )
}
