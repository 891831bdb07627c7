//! Idempotent set-up: the wasm32 standard library and a wasm-bindgen CLI of the crate's version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{self, step, Fail};
use crate::WASM_TARGET;

/// Debian's compiler with std sources, for machines where rustup cannot add the target.
const DEBIAN_PACKAGES: [&str; 4] = ["rustc-web", "cargo-web", "rust-web-src", "lld-22"];

/// How the wasm crates are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmToolchain {
    /// The active (rustup) toolchain has the wasm32 standard library.
    Active,
    /// Debian's `/usr/bin/cargo` building std from source (`-Zbuild-std`).
    DebianBuildStd,
}

impl WasmToolchain {
    /// `cargo <subcommand> --target wasm32-unknown-unknown` in `root` with this toolchain.
    pub fn cargo(self, root: &Path, subcommand: &str) -> Command {
        match self {
            WasmToolchain::Active => {
                let mut cmd = util::cargo(root);
                cmd.args([subcommand, "--target", WASM_TARGET]);
                cmd
            }
            WasmToolchain::DebianBuildStd => {
                let mut cmd = Command::new("/usr/bin/cargo");
                let path = std::env::var("PATH").unwrap_or_default();
                cmd.current_dir(root)
                    .env("PATH", format!("/usr/bin:{path}"))
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("CARGO_TARGET_DIR", self.target_dir(root))
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env_remove("RUSTC")
                    .env_remove("CARGO")
                    .args([subcommand, "--target", WASM_TARGET, BUILD_STD]);
                cmd
            }
        }
    }

    /// `cargo build --release --target wasm32-unknown-unknown` for `dist/`, into
    /// [`Self::dist_dir`]: with std rebuilt from source for size where its sources are there
    /// (the `rust-src` component, or Debian's), else with the prebuilt std.
    pub fn dist_cargo(self, root: &Path) -> Command {
        let mut cmd = self.cargo(root, "build");
        cmd.arg("--release").env("CARGO_TARGET_DIR", self.dist_dir(root));
        let builds_std = match self {
            // `cargo` already builds std from source.
            WasmToolchain::DebianBuildStd => true,
            WasmToolchain::Active if active_std_sources() => {
                cmd.env("RUSTC_BOOTSTRAP", "1").arg(BUILD_STD);
                true
            }
            WasmToolchain::Active => false,
        };
        if builds_std {
            cmd.env("RUSTFLAGS", SIZE_RUSTFLAGS).arg(SIZE_STD_FEATURES);
        } else {
            println!("    no std sources (rust-src): dist/ is built with the prebuilt std, ~10 KiB larger");
        }
        cmd
    }

    /// The release wasm file of the crate whose artifact is `stem`, as [`Self::dist_cargo`]
    /// writes it.
    pub fn dist_wasm(self, root: &Path, stem: &str) -> PathBuf {
        self.dist_dir(root).join(WASM_TARGET).join("release").join(format!("{stem}.wasm"))
    }

    /// Where [`Self::dist_cargo`] writes (apart from the tests' builds, whose flags differ).
    fn dist_dir(self, root: &Path) -> PathBuf {
        self.target_dir(root).join("dist")
    }

    /// Where this toolchain's build output goes.
    pub fn target_dir(self, root: &Path) -> PathBuf {
        match self {
            WasmToolchain::Active => root.join("target"),
            WasmToolchain::DebianBuildStd => root.join("target").join("debian-wasm"),
        }
    }
}

/// For `dist/`: no panic locations or messages in the binary (a panic is a bare trap, which
/// still reaches the page as an uncaught error), derived `Debug` output without fields, and
/// wasm-bindgen's short (legacy) symbol names in the JavaScript glue. The ladder of ways to save
/// fits the 120 KiB budget thanks to these (4.9 and 1.0 KB gzipped).
const SIZE_RUSTFLAGS: &str =
    "-Zunstable-options -Csymbol-mangling-version=legacy -Zlocation-detail=none -Zfmt-debug=shallow -Cpanic=immediate-abort";
/// std built from source (with wasm32's abort-on-panic runtime).
const BUILD_STD: &str = "-Zbuild-std=std,panic_abort";
/// std's size-over-speed choices, for `dist/`.
const SIZE_STD_FEATURES: &str = "-Zbuild-std-features=optimize_for_size";

/// The active toolchain's compiler (`$RUSTC` if set).
fn rustc() -> Command {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
}

/// Whether the active toolchain has std's sources, adding `rust-src` with rustup if not.
fn active_std_sources() -> bool {
    let has = || {
        util::output(rustc().args(["--print", "sysroot"])).is_some_and(|sysroot| {
            Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/std/Cargo.toml").is_file()
        })
    };
    if has() {
        return true;
    }
    step("std sources (`rustup component add rust-src`, for a smaller dist/)");
    let mut rustup = Command::new("rustup");
    rustup.args(["component", "add", "rust-src"]);
    util::run_with_timeout(&mut rustup, Duration::from_secs(600)).unwrap_or(false) && has()
}

fn active_has_wasm_std() -> bool {
    let Some(libdir) = util::output(rustc().args(["--print", "target-libdir", "--target", WASM_TARGET])) else {
        return false;
    };
    std::fs::read_dir(libdir)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
}

fn is_root() -> bool {
    util::output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

fn debian_ready() -> bool {
    Path::new("/usr/bin/cargo").is_file() && Path::new("/usr/lib/rustlib/src/rust").is_dir()
}

/// Makes sure the wasm32 standard library is there and says which toolchain builds with it.
/// `SLUICE_WASM_TOOLCHAIN=debian` forces the Debian route (to test it).
pub fn wasm_toolchain() -> Result<WasmToolchain, Fail> {
    step("wasm32 standard library");
    let forced_debian = std::env::var("SLUICE_WASM_TOOLCHAIN").is_ok_and(|v| v == "debian");
    if !forced_debian {
        if active_has_wasm_std() {
            println!("    the active toolchain has it");
            return Ok(WasmToolchain::Active);
        }
        println!("    missing; trying `rustup target add {WASM_TARGET}` (up to 10 minutes)");
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", WASM_TARGET]);
        if util::run_with_timeout(&mut rustup, Duration::from_secs(600)).unwrap_or(false) && active_has_wasm_std() {
            println!("    added");
            return Ok(WasmToolchain::Active);
        }
        println!("    rustup could not add it");
    }
    if debian_ready() {
        println!("    using Debian's rustc-web with std built from source");
        return Ok(WasmToolchain::DebianBuildStd);
    }
    if !is_root() {
        return Err(Fail(format!(
            "no wasm32 standard library: `rustup target add {WASM_TARGET}` failed and this is not root, \
             so Debian's packages cannot be installed. Run `rustup target add {WASM_TARGET}`, or as root \
             `apt-get install {}`, then try again.",
            DEBIAN_PACKAGES.join(" ")
        )));
    }
    println!("    installing Debian's {} (apt-get)", DEBIAN_PACKAGES.join(" "));
    apt_install(&DEBIAN_PACKAGES)?;
    if debian_ready() {
        Ok(WasmToolchain::DebianBuildStd)
    } else {
        Err(Fail(format!(
            "no wasm32 standard library: rustup failed and Debian's {} did not provide /usr/bin/cargo \
             with std sources. Install the wasm32 target by hand and try again.",
            DEBIAN_PACKAGES.join(" ")
        )))
    }
}

/// `apt-get update` (once per run) and `apt-get install -y <packages>`.
pub fn apt_install(packages: &[&str]) -> Result<(), Fail> {
    static UPDATED: std::sync::Once = std::sync::Once::new();
    let mut updated = Ok(());
    UPDATED.call_once(|| updated = util::run(Command::new("apt-get").args(["update", "-q"])));
    updated?;
    util::run(
        Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["install", "-y", "-q"]).args(packages),
    )
}

/// The exact `wasm-bindgen` version in `Cargo.lock`.
fn locked_wasm_bindgen_version(root: &Path) -> Result<String, Fail> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| Fail(format!("cannot read Cargo.lock: {e}")))?;
    locked_version(&lock, "wasm-bindgen").ok_or_else(|| Fail("Cargo.lock has no wasm-bindgen package".into()))
}

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}

fn cli_version(program: &Path) -> Option<String> {
    let out = util::output(Command::new(program).arg("--version"))?;
    out.split_whitespace().nth(1).map(str::to_string)
}

/// Installs the npm packages (Playwright Test; no browser downloads: Debian's are used).
pub fn npm_packages(root: &Path) -> Result<(), Fail> {
    step("npm packages (npm ci: @playwright/test, binaryen, streamsaver, terser)");
    if util::output(Command::new("npm").arg("--version")).is_none() {
        if util::output(Command::new("id").arg("-u")).as_deref() != Some("0") {
            return Err(Fail("npm is missing and this is not root: install Node.js and npm, then try again".into()));
        }
        apt_install(&["nodejs", "npm"])?;
    }
    util::run(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]))
}

/// Binaryen's `wasm-opt`, from the pinned npm package `binaryen` (Debian's 108 mangles
/// wasm-bindgen's externref table).
pub fn wasm_opt(root: &Path) -> Result<PathBuf, Fail> {
    npm_packages(root)?;
    let program = root.join("node_modules/.bin/wasm-opt");
    match util::output(Command::new(&program).arg("--version")) {
        Some(_) => Ok(program),
        None => Err(Fail(format!("{} does not run after `npm ci`", program.display()))),
    }
}

/// A `wasm-bindgen` CLI of exactly the crate's version.
pub fn wasm_bindgen_cli(root: &Path) -> Result<PathBuf, Fail> {
    let version = locked_wasm_bindgen_version(root)?;
    cargo_binary(root, "wasm-bindgen-cli", "wasm-bindgen", Some(&version))
}

/// The program `binary` of the crate `package` (at exactly `version`, if given): found in
/// cargo's bin folder or on PATH, else installed with `cargo install`.
pub fn cargo_binary(root: &Path, package: &str, binary: &str, version: Option<&str>) -> Result<PathBuf, Fail> {
    step(&format!("{package} {}", version.unwrap_or("(any version)")));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_default();
    let installed = cargo_home.join("bin").join(binary);
    let fits = |program: &Path| match (cli_version(program), version) {
        (Some(found), Some(wanted)) => found == wanted,
        (found, None) => found.is_some(),
        (None, Some(_)) => false,
    };
    for candidate in [installed.clone(), PathBuf::from(binary)] {
        if fits(&candidate) {
            println!("    found {}", candidate.display());
            return Ok(candidate);
        }
    }
    println!("    installing with `cargo install {package}` (a few minutes)");
    let install = |locked: bool| {
        let mut cmd = util::cargo(root);
        cmd.args(["install", package]);
        if let Some(version) = version {
            cmd.args(["--version", version]);
        }
        if locked {
            cmd.arg("--locked");
        }
        util::run(&mut cmd)
    };
    // A crate's own lock file can name a dependency version the registry no longer serves;
    // then resolve afresh.
    if install(true).is_err() {
        println!("    `--locked` failed; retrying with fresh dependency resolution");
        install(false)?;
    }
    if fits(&installed) {
        Ok(installed)
    } else {
        Err(Fail(format!(
            "after `cargo install {package}`, {} reports version {:?}, expected {version:?}",
            installed.display(),
            cli_version(&installed)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_locked_version() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"9.9.9\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(locked_version(lock, "js-sys"), None);
    }
}
