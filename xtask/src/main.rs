//! `cargo xtask <command>`: Sluice's one-command build, demo and test, set-up included.
//!
//! - `build`: wasm crates for `wasm32-unknown-unknown` (release) + wasm-bindgen into `dist/`,
//!   and the Rust example apps into `target/examples/`.
//!   `build --zip` puts the JavaScript `createZip` in too (not within the budget yet);
//!   `compat --zip` runs the end-to-end specs on that build.
//! - `pack`: `build`, then the npm package `target/npm/sluice-<version>.tgz`.
//! - `demo [--port N]`: `build`, then serve the demo site on http://127.0.0.1:8080.
//! - `serve [--port N]`: serve the demo site without building.
//! - `test [--slow]`: every test: formatting, clippy (native and wasm32), native tests, the bus's
//!   browser tests, the npm tarball bundled by esbuild and Vite in a scratch app, the end-to-end
//!   specs in every engine, and the compatibility matrix they
//!   produce; `--slow` adds the specs that wait for minutes (a hidden tab's 6-minute download).
//! - `compat [--project NAME]...`: the end-to-end specs and the matrix only
//!   (`target/compat/`, `COMPAT.md`); `--project` picks engines (e.g. `safari` on a Mac).
//! - `lint`: formatting, clippy and rustdoc (warnings are errors) only.
//! - `bench [--quick] [--runs N]`: Sluice against StreamSaver.js and the in-worker ceiling,
//!   real downloads to disk in every engine; writes `BENCHMARKS.md` and `BENCHMARKS.svg`.
//!   `--quick` (small workloads, one run) takes a few minutes; `--report [--runs N]` only
//!   rewrites them from `target/bench/results.jsonl` (after re-running a case into it).
//! - `bench profile [--mib N]`: Chromium's sampling profiler in the page and the service workers,
//!   and Linux perf over WebKitGTK's threads, while each large-write case saves N MiB (512):
//!   `target/bench/profile.md`.
//! - `bench bus`: the bus's throughput page <-> service worker in each engine (prints figures).
//!
//! Every step prints a `==>` line; set-up steps are idempotent.

mod bench;
mod browsers;
mod compat;
mod imports;
mod npm;
mod serve;
mod setup;
mod util;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use util::{step, Fail};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The WebAssembly features rustc enables for `wasm32-unknown-unknown` (wasm-opt must accept them).
const WASM_FEATURES: [&str; 6] =
    ["bulk-memory", "sign-ext", "reference-types", "nontrapping-float-to-int", "mutable-globals", "multivalue"];

/// The crates that run in the browser (linted and documented for wasm32).
const WASM_CRATES: [&str; 2] = ["sluice-main-writer", "sluice-sw-readable"];

/// The crate that links them into dist/'s one module, and its wasm file's stem.
const DIST_CRATE: (&str, &str) = ("sluice-wasm", "sluice_wasm");

/// How wasm-bindgen emits that module: (target, the glue's name in dist/). Both glues load
/// `sluice_bg.wasm` (wasm-bindgen names the module's imports after its out name, so both runs
/// use the out name `sluice`).
const DIST_GLUE: [(&str, &str); 2] = [("web", "sluice"), ("no-modules", "sluice-sw")];

/// The example apps built from Rust: (package, wasm file stem, folder in `examples/`); served
/// at `/examples/<folder>/` with their page beside the wasm-bindgen output.
const EXAMPLE_CRATES: [(&str, &str, &str); 2] = [
    ("sluice-example-rust-sink", "sluice_example_rust_sink", "rust-sink"),
    ("sluice-example-rust-zip", "sluice_example_rust_zip", "rust-zip"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // The budget is checked by `test`; `build` says where dist/ stands against it.
        Some("build") if args.iter().any(|a| a == "--zip") => build_with(true).map(|_| {
            // The JavaScript createZip is not in dist/ because it does not fit: say by how much.
            if let Err(over) = bench::dist_within_budget(&root()) {
                println!("    with createZip: {}", over.0);
            }
        }),
        Some("build") => build().and_then(|_| bench::dist_within_budget(&root())),
        Some("demo") => port(&args).and_then(|port| {
            build()?;
            serve::serve(&root(), port)
        }),
        Some("serve") => port(&args).and_then(|port| serve::serve(&root(), port)),
        Some("test") => match &args[1..] {
            [] => test(false),
            [slow] if slow == "--slow" => test(true),
            _ => Err(Fail("test takes only --slow".into())),
        },
        Some("compat") => {
            let zip = args.iter().any(|a| a == "--zip");
            let args: Vec<String> = args.iter().filter(|a| *a != "--zip").cloned().collect();
            projects(&args).and_then(|projects| compat(&projects, zip))
        }
        Some("pack") => build().and_then(|_| npm::pack(&root())).map(drop),
        Some("lint") => setup::wasm_toolchain().and_then(|tc| lint(&tc)),
        Some("bench") if args.get(1).map(String::as_str) == Some("bus") => bench_bus(),
        Some("bench") if args.get(1).map(String::as_str) == Some("profile") => bench_profile(&args),
        Some("bench") if args.iter().any(|a| a == "--report") => {
            bench::write_report(&root(), args.iter().any(|a| a == "--quick"), runs_of(&args))
        }
        Some("bench") => bench_args(&args).and_then(bench),
        _ => {
            eprintln!(
                "usage: cargo xtask <build [--zip] | pack | demo [--port N] | serve [--port N] | test [--slow] | compat [--zip] [--project NAME]... | lint | bench [--quick] [--runs N] [--zip] | bench profile [--mib N] | bench bus>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(message)) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn port(args: &[String]) -> Result<u16, Fail> {
    match args.iter().position(|a| a == "--port") {
        None => Ok(8080),
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Fail("--port takes a port number, e.g. --port 8081".into())),
    }
}

/// The `--project NAME` arguments of `compat`.
fn projects(args: &[String]) -> Result<Vec<String>, Fail> {
    let mut projects = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.next()) {
            ("--project", Some(name)) => projects.push(name.clone()),
            _ => return Err(Fail(format!("unexpected `{arg}`: compat takes --project NAME, e.g. --project safari"))),
        }
    }
    Ok(projects)
}

/// The page's glue with its exports object, until `init()` ran, one that throws a SluiceError
/// saying so (wasm-bindgen's leaves it `undefined`: "Cannot read properties of undefined").
fn guard_uninitialised(glue: &str) -> Result<String, Fail> {
    const GUARD: &str = "const uninitialised = new Proxy({}, { get() { throw Object.assign(new Error(\
        'call `await init()` (the default export of sluice.js) before using Sluice'), \
        { name: 'SluiceError', code: 'invalid_argument' }); } });\n";
    let declared = "let wasmModule, wasmInstance, wasm;";
    let checked = "if (wasm !== undefined) return wasm;";
    if glue.matches(declared).count() != 1 || glue.matches(checked).count() != 2 {
        return Err(Fail("wasm-bindgen's glue changed: update guard_uninitialised".into()));
    }
    Ok(glue
        .replace(declared, &format!("{GUARD}let wasmModule, wasmInstance, wasm = uninitialised;"))
        .replace(checked, "if (wasmInstance !== undefined) return wasm;"))
}

/// `dist/sluice.js`: an ES module that runs `sluice-sw.js` (the glue, as a classic script that
/// sets a global) and exports what wasm-bindgen's module would (the exports of its `web` glue).
fn page_module(web_glue: &str) -> Result<String, Fail> {
    let mut names: Vec<&str> = web_glue
        .lines()
        .filter_map(|l| l.strip_prefix("export class ").or_else(|| l.strip_prefix("export function ")))
        .filter_map(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')).next())
        .collect();
    if !web_glue.contains("export { initSync, __wbg_init as default };") || names.is_empty() {
        return Err(Fail("wasm-bindgen's glue changed: update page_module".into()));
    }
    names.push("initSync");
    Ok(format!(
        "import './sluice-sw.js';\n\
         const glue = globalThis.sluice_sw_wasm;\n\
         /** Loads the wasm (beside this file unless told where). */\n\
         export default function init(input) {{\n\
         \x20 return glue(input ?? {{ module_or_path: new URL('sluice_bg.wasm', import.meta.url) }});\n\
         }}\n\
         export const {{ {} }} = glue;\n",
        names.join(", ")
    ))
}

/// wasm-bindgen's classic-script glue, setting `globalThis.sluice_sw_wasm` (so that it also
/// works when a module imports it).
fn shared_glue(glue: &str) -> Result<String, Fail> {
    let declared = "let sluice_sw_wasm = (function(exports) {";
    if glue.matches(declared).count() != 1 {
        return Err(Fail("wasm-bindgen's glue changed: update shared_glue".into()));
    }
    Ok(glue.replace(declared, "globalThis.sluice_sw_wasm = (function(exports) {"))
}

/// Builds `dist/`; returns the wasm toolchain it used.
fn build() -> Result<(setup::WasmToolchain, PathBuf), Fail> {
    build_with(false)
}

/// `build`, with the JavaScript `createZip` in dist/ if `zip` (main-writer's `js-zip` feature,
/// off until it fits the budget; compat-tests/specs/zip.spec.ts tests it where it is in).
fn build_with(zip: bool) -> Result<(setup::WasmToolchain, PathBuf), Fail> {
    let root = root();
    let toolchain = setup::wasm_toolchain()?;
    let bindgen = setup::wasm_bindgen_cli(&root)?;
    step("building the wasm crates (release, wasm32-unknown-unknown)");
    let mut cargo = toolchain.dist_cargo(&root);
    for package in [DIST_CRATE.0].into_iter().chain(EXAMPLE_CRATES.map(|c| c.0)) {
        cargo.args(["--package", package]);
    }
    if zip {
        cargo.args(["--features", "sluice-main-writer/js-zip"]);
    }
    util::run(&mut cargo)?;
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| Fail(format!("cannot create {}: {e}", dist.display())))?;
    let wasm = toolchain.dist_wasm(&root, DIST_CRATE.1);
    let glue = toolchain.target_dir(&root).join("glue");
    for (target, name) in DIST_GLUE {
        step(&format!("wasm-bindgen --target {target} -> dist/{name}.js"));
        let out = glue.join(target);
        let mut cmd = std::process::Command::new(&bindgen);
        cmd.args(["--target", target, "--out-name", "sluice", "--out-dir"]).arg(&out).arg(&wasm);
        if target == "no-modules" {
            // A distinct global, so an app's own wasm-bindgen output can live beside it.
            cmd.args(["--no-modules-global", "sluice_sw_wasm"]);
        }
        util::run(&mut cmd)?;
        let glue = util::read(&out.join("sluice.js"))?;
        let glue = String::from_utf8(glue).map_err(|e| Fail(format!("wasm-bindgen's glue: {e}")))?;
        let glue = guard_uninitialised(&glue)?;
        let glue = match target {
            // The page's module is a small wrapper around the service worker's script, which
            // holds the glue for both (one copy of it in dist/).
            "web" => page_module(&glue)?,
            _ => shared_glue(&glue)?,
        };
        util::write(&dist.join(format!("{name}.js")), glue)?;
        util::copy(&out.join("sluice.d.ts"), &dist.join(format!("{name}.d.ts")))?;
    }
    // Both runs wrote the same module (checked), which dist/ holds once.
    let read = |dir: &str| util::read(&glue.join(dir).join("sluice_bg.wasm"));
    if read("web")? != read("no-modules")? {
        return Err(Fail("wasm-bindgen wrote two different modules for the page and the service worker".into()));
    }
    for file in ["sluice_bg.wasm", "sluice_bg.wasm.d.ts"] {
        util::copy(&glue.join("web").join(file), &dist.join(file))?;
    }
    // What earlier builds wrote, and this one does not.
    for file in ["sluice-sw_bg.wasm", "sluice-sw_bg.wasm.d.ts"] {
        let _ = std::fs::remove_file(dist.join(file));
    }
    let wasm_opt = setup::wasm_opt(&root)?;
    step("wasm-opt -Os --converge dist/sluice_bg.wasm");
    let file = dist.join("sluice_bg.wasm");
    let mut cmd = std::process::Command::new(&wasm_opt);
    // The features rustc's wasm32 target emits; names, debug info and the custom sections that
    // only describe the build (producers, target features) are dropped.
    // -Os to a fixed point: 0.2 KB smaller gzipped than -Oz here (measured 2026-12-05).
    cmd.args(["-Os", "--converge"]).args(WASM_FEATURES.map(|f| format!("--enable-{f}")));
    cmd.args(["--strip-producers", "--strip-target-features"]).arg(&file).arg("-o").arg(&file);
    util::run(&mut cmd)?;
    step("short import names in dist/sluice_bg.wasm and dist/sluice-sw.js");
    imports::shorten(&file, &[&dist.join("sluice-sw.js")])?;
    // The two thin shims: small writes staged without a call into wasm (the page's and a
    // worker's writable), and the service worker's listeners from the first evaluation.
    let sw = dist.join("sluice-sw.js");
    let parts = [sw.clone(), root.join("main-writer/js/gather.js"), root.join("sw-readable/js/shim.js")];
    let script = parts.iter().map(|file| util::read(file)).collect::<Result<Vec<_>, _>>()?.concat();
    util::write(&sw, script)?;
    // Minified: a third of the glue's gzipped size (the .d.ts files keep the API's docs).
    let terser = root.join("node_modules/terser/bin/terser");
    for (file, module) in [("sluice.js", true), ("sluice-sw.js", false)] {
        step(&format!("terser dist/{file}"));
        let path = dist.join(file);
        let mut cmd = std::process::Command::new("node");
        cmd.arg(&terser).arg(&path).args(["--compress", "--mangle"]);
        if module {
            cmd.arg("--module");
        }
        util::run(cmd.arg("--output").arg(&path))?;
    }
    // The StreamSaver.js drop-in and its types, as they are.
    for file in ["streamsaver.js", "streamsaver.d.ts"] {
        util::copy(&root.join("main-writer/js").join(file), &dist.join(file))?;
    }
    for file in ["sluice.js", "sluice_bg.wasm", "sluice.d.ts", "sluice-sw.js", "sluice-sw.d.ts"] {
        if !dist.join(file).is_file() {
            return Err(Fail(format!("wasm-bindgen did not write dist/{file}")));
        }
    }
    for (_, stem, folder) in EXAMPLE_CRATES {
        step(&format!("wasm-bindgen --target web -> target/examples/{folder}/ (an example app)"));
        let wasm = toolchain.dist_wasm(&root, stem);
        let out = root.join("target/examples").join(folder);
        let mut cmd = std::process::Command::new(&bindgen);
        util::run(cmd.args(["--target", "web", "--out-dir"]).arg(&out).arg(&wasm))?;
    }
    println!("    dist/ is ready: {}", dist.display());
    Ok((toolchain, bindgen))
}

fn lint(toolchain: &setup::WasmToolchain) -> Result<(), Fail> {
    let root = root();
    step("cargo fmt --check");
    util::run(util::cargo(&root).args(["fmt", "--all", "--check"]))?;
    step("cargo clippy (native, all targets, -D warnings)");
    util::run(util::cargo(&root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step("cargo doc --no-deps (native and wasm32, warnings are errors)");
    util::run(util::cargo(&root).env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--no-deps",
        "--workspace",
        "--quiet",
    ]))?;
    let mut doc = toolchain.cargo(&root, "doc");
    doc.env("RUSTDOCFLAGS", "-D warnings").args(["--no-deps", "--quiet"]);
    for package in WASM_CRATES.into_iter().chain(["sluice-worker-bus", "sluice-web"]) {
        doc.args(["--package", package]);
    }
    util::run(&mut doc)?;
    if *toolchain == setup::WasmToolchain::DebianBuildStd {
        step("cargo clippy (wasm32): not run, Debian's rustc-web has no clippy");
        return Ok(());
    }
    step("cargo clippy (wasm32, wasm crates and their browser tests, -D warnings)");
    let mut clippy = toolchain.cargo(&root, "clippy");
    let packages = WASM_CRATES.into_iter().chain([DIST_CRATE.0]).chain(EXAMPLE_CRATES.map(|c| c.0));
    for package in packages.chain(["sluice-worker-bus", "sluice-bus-peer", "sluice-web"]) {
        clippy.args(["--package", package]);
    }
    // With the JavaScript zip API, which dist/ leaves out for now (see main-writer's features).
    util::run(clippy.args(["--all-targets", "--features", "sluice-main-writer/js-zip", "--", "-D", "warnings"]))
}

/// sluice-core must stay natively testable: no JS bindings in its tree, on any target.
fn core_is_pure(root: &Path) -> Result<(), Fail> {
    step("sluice-core depends on no wasm-bindgen, js-sys or web-sys (cargo tree, all targets)");
    let mut tree = util::cargo(root);
    tree.args(["tree", "--package", "sluice-core", "--edges", "normal", "--target", "all", "--prefix", "none"]);
    let out = util::output(&mut tree).ok_or_else(|| Fail("`cargo tree` failed".into()))?;
    let bad: Vec<&str> = out
        .lines()
        .filter(|l| ["wasm-bindgen ", "js-sys ", "web-sys "].iter().any(|name| l.starts_with(name)))
        .collect();
    if bad.is_empty() {
        println!("    ok");
        Ok(())
    } else {
        Err(Fail(format!("sluice-core's dependency tree has JS bindings: {}", bad.join(", "))))
    }
}

fn test(slow: bool) -> Result<(), Fail> {
    let root = root();
    let (toolchain, bindgen) = build()?;
    lint(&toolchain)?;
    core_is_pure(&root)?;
    bench::dist_within_budget(&root)?;
    step("native tests (cargo test --workspace)");
    let mut native = util::cargo(&root);
    native.args(["test", "--workspace", "--no-fail-fast"]);
    let native = util::run_counting_tests(&mut native, Duration::from_secs(1800))?.counts;
    if native.passed == 0 {
        return Err(Fail("no native test ran".into()));
    }
    if native.failed > 0 {
        return Err(Fail(format!("{} native tests failed", native.failed)));
    }
    let drivers = browsers::ensure(&root, &bindgen)?;
    browsers::build_bus_peer(&root, toolchain, &bindgen, false)?;
    let mut per_engine = Vec::new();
    for engine in browsers::Engine::ALL {
        let mut counts = util::Counts::default();
        // The bus, and the page's download handle.
        for package in ["sluice-worker-bus", "sluice-main-writer"] {
            let args = ["--package", package, "--test", "web"];
            let run = browsers::run_wasm_tests(&root, toolchain, &drivers, engine, &args, &[])?;
            counts.passed += run.passed;
            counts.failed += run.failed;
        }
        per_engine.push((engine, counts));
    }
    let end_to_end = end_to_end_and_matrix(&root, &drivers, &[], slow)?;
    println!();
    println!("==> summary");
    println!("    native: {} passed, {} failed, {} ignored", native.passed, native.failed, native.ignored);
    let mut total = native;
    for (engine, counts) in &per_engine {
        println!(
            "    wasm browser tests (bus, page) in {}: {} passed, {} failed",
            engine.name(),
            counts.passed,
            counts.failed
        );
        total.passed += counts.passed;
        total.failed += counts.failed;
    }
    for (engine, counts) in &end_to_end {
        println!(
            "    end-to-end in {engine}: {} passed, {} failed, {} skipped (n.a. or not available there)",
            counts.passed, counts.failed, counts.skipped
        );
        total.passed += counts.passed;
        total.failed += counts.failed;
    }
    println!("tests: {} passed, {} failed", total.passed, total.failed);
    Ok(())
}

/// The Playwright specs in `projects` (every engine when empty; the slow ones too if `slow`),
/// then the matrix; fails when an engine that had to run did not, or when a test or a matrix
/// cell failed.
fn end_to_end_and_matrix(
    root: &Path,
    drivers: &browsers::Drivers,
    projects: &[String],
    slow: bool,
) -> Result<Vec<(String, browsers::EndToEnd)>, Fail> {
    setup::npm_packages(root)?;
    let tarball = npm::pack(root)?;
    npm::bundle_test_app(root, &tarball)?;
    // No screenshot or matrix of an earlier run may pass for this one's.
    let _ = std::fs::remove_dir_all(root.join("target/compat"));
    let (report, counts) = browsers::run_end_to_end(root, drivers, projects, slow)?;
    let required: Vec<&str> = if projects.is_empty() {
        browsers::Engine::ALL.iter().map(|e| e.name()).collect()
    } else {
        projects.iter().map(String::as_str).collect()
    };
    let failures = compat::write(root, &report, &required, projects.is_empty())?;
    browsers::judge_end_to_end(&counts, &required)?;
    if !failures.is_empty() {
        return Err(Fail(format!("the matrix has failed cells:\n  {}", failures.join("\n  "))));
    }
    Ok(counts)
}

/// `cargo xtask compat`: builds, sets up the browsers, runs the specs and writes the matrix.
fn compat(projects: &[String], zip: bool) -> Result<(), Fail> {
    let root = root();
    let (_, bindgen) = build_with(zip)?;
    let drivers = browsers::ensure(&root, &bindgen)?;
    end_to_end_and_matrix(&root, &drivers, projects, false).map(drop)
}

/// `--runs N` of `bench --report` (the runs the results were made with; 3 if not given).
fn runs_of(args: &[String]) -> u32 {
    args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok()).unwrap_or(3)
}

/// `bench`'s options.
struct BenchArgs {
    quick: bool,
    runs: Option<u32>,
    /// dist/ with createZip, for the zip cases.
    zip: bool,
}

/// The `--quick`, `--runs N` and `--zip` arguments of `bench`.
fn bench_args(args: &[String]) -> Result<BenchArgs, Fail> {
    let (mut quick, mut runs, mut zip) = (false, None, false);
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--zip" => zip = true,
            "--runs" => {
                runs = Some(
                    rest.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or_else(|| Fail("--runs takes a count, e.g. --runs 3".into()))?,
                )
            }
            other => return Err(Fail(format!("unexpected `{other}`: bench takes --quick, --runs N, --zip, or bus"))),
        }
    }
    Ok(BenchArgs { quick, runs, zip })
}

/// `cargo xtask bench`: builds, sets up the browsers and npm packages, runs the benchmark.
fn bench(BenchArgs { quick, runs, zip }: BenchArgs) -> Result<(), Fail> {
    let root = root();
    let (_, bindgen) = build_with(zip)?;
    let drivers = browsers::ensure(&root, &bindgen)?;
    setup::npm_packages(&root)?;
    bench::bench(&root, &drivers.geckodriver, quick, runs)
}

/// `bench profile [--mib N]`: where the time goes in Chromium and WebKitGTK, per large-write case.
fn bench_profile(args: &[String]) -> Result<(), Fail> {
    let mib = match args.iter().position(|a| a == "--mib") {
        None => 512,
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| Fail("--mib takes a size in MiB, e.g. --mib 256".into()))?,
    };
    let root = root();
    let (_, bindgen) = build()?;
    browsers::ensure(&root, &bindgen)?;
    setup::npm_packages(&root)?;
    bench::profile(&root, mib)
}

/// Prints round trips per second and MB/s of the bus in each engine.
fn bench_bus() -> Result<(), Fail> {
    let root = root();
    let toolchain = setup::wasm_toolchain()?;
    let bindgen = setup::wasm_bindgen_cli(&root)?;
    let drivers = browsers::ensure(&root, &bindgen)?;
    browsers::build_bus_peer(&root, toolchain, &bindgen, true)?;
    for engine in browsers::Engine::ALL {
        let args = ["--release", "--package", "sluice-worker-bus", "--test", "bench"];
        browsers::run_wasm_tests(&root, toolchain, &drivers, engine, &args, &["--nocapture"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::guard_uninitialised;

    #[test]
    fn the_glue_throws_until_init_ran() {
        let glue =
            "let wasmModule, wasmInstance, wasm;\nfunction initSync() { if (wasm !== undefined) return wasm; }\n\
                    async function init() { if (wasm !== undefined) return wasm; }";
        let guarded = guard_uninitialised(glue).unwrap();
        assert!(guarded.contains("wasm = uninitialised;"));
        assert_eq!(guarded.matches("if (wasmInstance !== undefined) return wasm;").count(), 2);
        assert!(guard_uninitialised("let wasm;").is_err());
    }
}
