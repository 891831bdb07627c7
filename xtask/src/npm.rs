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

/// The README's set-up for a bundler, as written there: the shell lines of the first `sh` block
/// of "Using a bundler" and the `scripts` of its `json` block.
fn readme_setup(readme: &str) -> Result<(Vec<String>, serde_json::Value), Fail> {
    let missing = |what: &str| Fail(format!("README.md: no {what} under \"## Using a bundler\""));
    let section = readme.split("\n## Using a bundler").nth(1).ok_or_else(|| missing("section"))?;
    let section = section.split("\n## ").next().unwrap_or(section);
    let block = |lang: &str| {
        let start = section.find(&format!("```{lang}\n")).ok_or_else(|| missing(&format!("{lang} block")))?;
        let body = &section[start + lang.len() + 4..];
        Ok::<_, Fail>(body[..body.find("```").ok_or_else(|| missing("end of a block"))?].to_string())
    };
    let lines = block("sh")?
        .lines()
        .map(|line| line.split(" #").next().unwrap_or("").trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    let scripts: serde_json::Value = serde_json::from_str(&format!("{{{}}}", block("json")?))
        .map_err(|e| Fail(format!("README.md: the scripts block is not JSON: {e}")))?;
    Ok((lines, scripts["scripts"].clone()))
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
    step("bundler test app: npm install esbuild and vite, then the README's set-up as written (target/bundlers/app)");
    let npm = || {
        let mut cmd = Command::new("npm");
        cmd.current_dir(&app).args(["--no-audit", "--no-fund", "--loglevel=error"]);
        cmd
    };
    util::run(npm().arg("install"))?;
    let readme = std::fs::read_to_string(root.join("README.md")).map_err(io("read", &root.join("README.md")))?;
    let (lines, scripts) = readme_setup(&readme)?;
    let manifest = app.join("package.json");
    let text = std::fs::read_to_string(&manifest).map_err(io("read", &manifest))?;
    let mut package: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Fail(format!("{}: {e}", manifest.display())))?;
    for (name, script) in scripts.as_object().ok_or_else(|| Fail("README.md: scripts is not an object".into()))? {
        package["scripts"][name] = script.clone();
    }
    util::write(&manifest, serde_json::to_string_pretty(&package).unwrap_or_default())?;
    let published = tarball.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    for line in lines {
        let line = line.replace(&format!("./{published}"), &tarball.display().to_string());
        util::run(Command::new("sh").current_dir(&app).args(["-c", &line]))?;
    }
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

    step("bundler test app: npm run build (Vite, the service worker copied to public/ by the README's prebuild)");
    // The README's prebuild copies the service worker to public/ again: it must, on its own.
    let public = app.join("public");
    std::fs::remove_dir_all(&public).map_err(io("remove", &public))?;
    util::run(npm().args(["run", "build"]))?;
    for file in SERVICE_WORKER {
        if !out.join("vite").join(file).is_file() {
            return Err(Fail(format!("the README's set-up left no {file} in the Vite build")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_says_how_to_set_up_a_bundler() {
        let (lines, scripts) = super::readme_setup(include_str!("../../README.md")).unwrap();
        assert!(lines.iter().any(|l| l.starts_with("npm install ./sluice-")), "{lines:?}");
        assert!(scripts["prebuild"].is_string(), "{scripts}");
    }
}
