//! The three engines: installing them and their drivers, and running wasm-bindgen tests in
//! each with wasm-bindgen-test-runner (no silent skips: every engine must report its tests).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Test counts of one Playwright project in the end-to-end run.
pub use sluice_compat_tests::Counts as EndToEnd;

use crate::setup::{self, WasmToolchain};
use crate::util::{self, step, Counts, Fail};

/// A browser engine on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Chromium, Engine::Firefox, Engine::WebKit];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }

    /// The browser wasm-bindgen-test-runner names when it starts.
    fn runner_label(self) -> &'static str {
        match self {
            Engine::Chromium => "Chrome",
            Engine::Firefox => "Firefox",
            Engine::WebKit => "Safari",
        }
    }
}

/// Debian packages that bring the engines, their drivers, a virtual display, and the zip
/// readers the specs check archives with (unzip, Python's zipfile, 7-Zip, libarchive's bsdtar).
const PACKAGES: [&str; 9] = [
    "chromium",
    "chromium-driver",
    "firefox-esr",
    "webkit2gtk-driver",
    "xvfb",
    "unzip",
    "python3",
    "p7zip-full",
    "libarchive-tools",
];
const PROGRAMS: [&str; 9] = [
    "/usr/bin/chromium",
    "/usr/bin/chromedriver",
    "/usr/bin/firefox-esr",
    "/usr/bin/WebKitWebDriver",
    "/usr/bin/xvfb-run",
    "/usr/bin/unzip",
    "/usr/bin/python3",
    "/usr/bin/7z",
    "/usr/bin/bsdtar",
];

/// Paths of the drivers.
#[derive(Debug, Clone)]
pub struct Drivers {
    pub geckodriver: PathBuf,
    pub test_runner: PathBuf,
}

/// Installs what is missing: the browsers (apt, as root) and geckodriver (cargo install).
pub fn ensure(root: &Path, bindgen: &Path) -> Result<Drivers, Fail> {
    step("browsers and drivers: Chromium, Firefox ESR, WebKitGTK (WebKitWebDriver), Xvfb; zip readers");
    let missing: Vec<&str> = PROGRAMS.iter().copied().filter(|p| !Path::new(p).exists()).collect();
    if !cfg!(target_os = "linux") {
        println!("    not Linux: using the browsers installed here (see README, \"On a Mac\")");
    } else if missing.is_empty() {
        println!("    installed");
    } else if util::output(Command::new("id").arg("-u")).as_deref() == Some("0") {
        println!("    missing {}; installing {} (apt-get)", missing.join(", "), PACKAGES.join(" "));
        setup::apt_install(&PACKAGES)?;
    } else {
        return Err(Fail(format!(
            "missing {} and not root: run `apt-get install -y {}` as root, then try again",
            missing.join(", "),
            PACKAGES.join(" ")
        )));
    }
    lan_host()?;
    // Pinned: the specs need its `--allow-system-access` (0.36 and later).
    let geckodriver = setup::cargo_binary(root, "geckodriver", "geckodriver", Some("0.37.1"))?;
    let test_runner = bindgen.with_file_name("wasm-bindgen-test-runner");
    let test_runner = if test_runner.is_file() { test_runner } else { PathBuf::from("wasm-bindgen-test-runner") };
    Ok(Drivers { geckodriver, test_runner })
}

/// The made-up host name under which the specs serve an insecure context (plain HTTP, not
/// localhost), resolved to loopback only: Chromium and Firefox are told so by their flags and
/// preferences; WebKitGTK asks the system, so this line goes into `/etc/hosts` (as root).
const LAN_HOST: &str = "sluice-lan.test";

fn lan_host() -> Result<(), Fail> {
    let hosts = Path::new("/etc/hosts");
    let text = std::fs::read_to_string(hosts).unwrap_or_default();
    if !cfg!(target_os = "linux") || text.split_whitespace().any(|word| word == LAN_HOST) {
        return Ok(());
    }
    if util::output(Command::new("id").arg("-u")).as_deref() != Some("0") {
        println!("    not root: add `127.0.0.1 {LAN_HOST}` to /etc/hosts for WebKitGTK's insecure-context test");
        return Ok(());
    }
    step(&format!("/etc/hosts: 127.0.0.1 {LAN_HOST} (an insecure context on loopback, for the specs)"));
    let line = format!("{}127.0.0.1 {LAN_HOST}\n", if text.ends_with('\n') || text.is_empty() { "" } else { "\n" });
    std::fs::OpenOptions::new()
        .append(true)
        .open(hosts)
        .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()))
        .map_err(|e| Fail(format!("cannot add {LAN_HOST} to /etc/hosts: {e}")))
}

/// Builds the bus's test peer (`worker-bus/peer/pkg/`), which the browser tests load.
pub fn build_bus_peer(root: &Path, toolchain: WasmToolchain, bindgen: &Path, release: bool) -> Result<(), Fail> {
    let profile = if release { "release" } else { "debug" };
    step(&format!("building the bus's test peer ({profile}, worker-bus/peer/pkg)"));
    let mut cargo = toolchain.cargo(root, "build");
    cargo.args(["--package", "sluice-bus-peer"]);
    if release {
        cargo.arg("--release");
    }
    util::run(&mut cargo)?;
    let wasm = toolchain.target_dir(root).join(crate::WASM_TARGET).join(profile).join("sluice_bus_peer.wasm");
    util::run(
        Command::new(bindgen)
            .args(["--target", "no-modules", "--no-modules-global", "sluice_bus_peer", "--out-dir"])
            .arg(root.join("worker-bus/peer/pkg"))
            .arg(wasm),
    )
}

/// Runs `cargo test --target wasm32 <args>` in `engine`; fails unless the engine really ran
/// tests and all passed. `extra` goes to the test runner (e.g. `--nocapture`).
pub fn run_wasm_tests(
    root: &Path,
    toolchain: WasmToolchain,
    drivers: &Drivers,
    engine: Engine,
    args: &[&str],
    extra: &[&str],
) -> Result<Counts, Fail> {
    step(&format!("{}: cargo test --target wasm32-unknown-unknown {}", engine.name(), args.join(" ")));
    let runner = drivers.test_runner.display().to_string();
    let mut cmd = toolchain.cargo(root, "test");
    cmd.args(args).arg("--").args(extra);
    for var in ["CHROMEDRIVER", "GECKODRIVER", "SAFARIDRIVER", "WASM_BINDGEN_USE_BROWSER"] {
        cmd.env_remove(var);
    }
    let runner = match engine {
        Engine::Chromium => {
            cmd.env("CHROMEDRIVER", "/usr/bin/chromedriver");
            runner
        }
        Engine::Firefox => {
            cmd.env("GECKODRIVER", &drivers.geckodriver);
            runner
        }
        Engine::WebKit => {
            // WebKitGTK has no headless mode: it needs a (virtual) display.
            cmd.env("SAFARIDRIVER", "/usr/bin/WebKitWebDriver");
            format!("xvfb-run -a {runner}")
        }
    };
    cmd.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner);
    cmd.env("WASM_BINDGEN_TEST_TIMEOUT", "300");
    let run = util::run_counting_tests(&mut cmd, std::time::Duration::from_secs(900))?;
    let label = format!("Running headless tests in {}", engine.runner_label());
    if !run.output.contains(&label) {
        return Err(Fail(format!("{}: the tests did not run in the browser (no \"{label}\")", engine.name())));
    }
    if run.counts.passed == 0 || run.counts.failed > 0 {
        return Err(Fail(format!(
            "{}: {} passed, {} failed: every engine must run and pass its browser tests",
            engine.name(),
            run.counts.passed,
            run.counts.failed
        )));
    }
    Ok(run.counts)
}

/// `npx`, under a virtual display on Linux (WebKitGTK needs one; large and true-colour for the
/// screenshots).
pub fn npx_with_display() -> Command {
    if cfg!(target_os = "linux") {
        let mut xvfb = Command::new("xvfb-run");
        xvfb.args(["-a", "-s", "-screen 0 1920x1600x24", "npx"]);
        xvfb
    } else {
        Command::new("npx")
    }
}

/// Runs the Playwright specs (under Xvfb, for WebKitGTK) in `projects`, or in every project of
/// `playwright.config.ts` when empty. Returns Playwright's JSON report and the counts per
/// project; judging them is the caller's (after it has written the matrix).
pub fn run_end_to_end(
    root: &Path,
    drivers: &Drivers,
    projects: &[String],
    slow: bool,
) -> Result<(serde_json::Value, Vec<(String, EndToEnd)>), Fail> {
    let which = if projects.is_empty() { "every engine".to_owned() } else { projects.join(", ") };
    let slow_too = if slow { ", the slow specs too" } else { "" };
    step(&format!("end-to-end tests: Playwright Test in {which}{slow_too} (compat-tests/)"));
    let report = root.join("target/playwright/report.json");
    let _ = std::fs::remove_file(&report);
    let mut cmd = npx_with_display();
    cmd.current_dir(root)
        .args(["playwright", "test", "--reporter=list,json"])
        .env("PLAYWRIGHT_JSON_OUTPUT_NAME", &report)
        .env("GECKODRIVER", &drivers.geckodriver)
        .env("CI", "1");
    if slow {
        // The specs that wait for minutes run only when asked (compat-tests/specs/hidden.spec.ts).
        cmd.env("SLUICE_SLOW", "1");
    }
    for project in projects {
        cmd.args(["--project", project]);
    }
    let status = util::run_counting_tests(&mut cmd, std::time::Duration::from_secs(3600));
    let text = std::fs::read_to_string(&report)
        .map_err(|e| Fail(format!("Playwright wrote no report ({e}); its run: {:?}", status.as_ref().err())))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Fail(format!("bad Playwright report: {e}")))?;
    let mut counts = sluice_compat_tests::counts(&json);
    counts.sort_by_key(|(project, _)| Engine::ALL.iter().position(|e| e.name() == project).unwrap_or(usize::MAX));
    Ok((json, counts))
}

/// Fails unless every `required` engine ran and passed tests and no engine failed any.
pub fn judge_end_to_end(counts: &[(String, EndToEnd)], required: &[&str]) -> Result<(), Fail> {
    for name in required {
        let count = counts.iter().find(|(p, _)| p == name).map(|(_, c)| *c).unwrap_or_default();
        if count.passed == 0 {
            return Err(Fail(format!(
                "end-to-end tests in {name}: none passed ({} failed, {} skipped): every engine must start and pass them",
                count.failed, count.skipped
            )));
        }
    }
    for (name, count) in counts {
        if count.failed > 0 {
            return Err(Fail(format!("end-to-end tests in {name}: {} failed", count.failed)));
        }
    }
    Ok(())
}
