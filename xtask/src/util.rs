//! Running commands: step lines, timeouts, and counting the tests cargo ran.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A step failed; the message says what was tried and what to do.
#[derive(Debug)]
pub struct Fail(pub String);

/// Copies `from` to `to`, or says which copy failed.
pub fn copy(from: &Path, to: &Path) -> Result<(), Fail> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| Fail(format!("cannot copy {} to {}: {e}", from.display(), to.display())))
}

/// Reads `path`, or says which read failed.
pub fn read(path: &Path) -> Result<Vec<u8>, Fail> {
    std::fs::read(path).map_err(|e| Fail(format!("cannot read {}: {e}", path.display())))
}

/// Writes `data` to `path`, or says which write failed.
pub fn write(path: &Path, data: impl AsRef<[u8]>) -> Result<(), Fail> {
    std::fs::write(path, data).map_err(|e| Fail(format!("cannot write {}: {e}", path.display())))
}

/// Prints a step line.
pub fn step(what: &str) {
    println!("==> {what}");
}

/// `cargo` as invoked by `cargo xtask` (the active toolchain), in `root`.
pub fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` to completion; a non-zero exit is a failure.
pub fn run(cmd: &mut Command) -> Result<(), Fail> {
    let status = cmd.status().map_err(|e| Fail(format!("cannot start `{}`: {e}", describe(cmd))))?;
    if status.success() {
        Ok(())
    } else {
        Err(Fail(format!("`{}` failed ({status})", describe(cmd))))
    }
}

/// Runs `cmd`, killing it after `limit`. `Ok(true)`: it exited 0.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<bool, Fail> {
    let mut child = cmd.spawn().map_err(|e| Fail(format!("cannot start `{}`: {e}", describe(cmd))))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                println!("    `{}` did not finish within {}s; stopped it", describe(cmd), limit.as_secs());
                return Ok(false);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(Fail(format!("waiting for `{}`: {e}", describe(cmd)))),
        }
    }
}

/// Runs `cmd` and returns its trimmed standard output if it exits 0.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Test counts summed over every `test result:` line of a cargo test run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl Counts {
    /// Adds the counts of one libtest summary line, if it is one.
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// What a test command printed, and its counts.
#[derive(Debug, Default)]
pub struct TestRun {
    pub counts: Counts,
    pub output: String,
}

/// Runs a `cargo test` command, echoing its output, and sums its counts. Fails if cargo
/// failed without a failing test to show for it (a build error, a crash), or ran past
/// `limit` (then it and its children are killed).
pub fn run_counting_tests(cmd: &mut Command, limit: Duration) -> Result<TestRun, Fail> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Fail(format!("cannot start `{}`: {e}", describe(cmd))))?;
    let group = child.id();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                if finished.load(std::sync::atomic::Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
            true
        })
    };
    let mut run = TestRun::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            run.counts.add_line(&line);
            run.output.push_str(&line);
            run.output.push('\n');
        }
    }
    let status = child.wait().map_err(|e| Fail(format!("waiting for `{}`: {e}", describe(cmd))))?;
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    if watchdog.join().unwrap_or(false) {
        return Err(Fail(format!("`{}` did not finish within {}s; stopped it", describe(cmd), limit.as_secs())));
    }
    if !status.success() && run.counts.failed == 0 {
        return Err(Fail(format!("`{}` failed ({status}) before reporting a failing test", describe(cmd))));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_libtest_summaries() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        c.add_line("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out");
        c.add_line("running 5 tests");
        assert_eq!(c, Counts { passed: 15, failed: 2, ignored: 1 });
    }
}
