//! `cargo xtask bench [--quick] [--runs N] [--zip]`: Sluice against StreamSaver.js and the in-worker
//! ceiling, real downloads to disk in every engine (compat-tests/bench/), then `BENCHMARKS.md`
//! (ratios first, then the tables) and its chart `BENCHMARKS.svg`, both from this run alone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use plotters::prelude::*;
use serde::Deserialize;

use crate::util::{self, step, Fail};

/// One line of `target/bench/results.jsonl`: one run of a case at one size in one engine.
#[derive(Debug, Clone, Deserialize)]
struct Record {
    session: String,
    #[serde(flatten)]
    figure: Figure,
    run: Run,
}

/// One timed download.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    mbps: f64,
    pss_growth: Option<f64>,
    error: Option<String>,
    /// A run cut off while its producer still wrote: the most MB/s it can have saved.
    bound: Option<f64>,
}

/// A case at one size in one engine: the median of its runs.
#[derive(Debug, Clone, Deserialize)]
struct Figure {
    engine: String,
    version: String,
    case: String,
    how: String,
    size: u64,
    writes: u64,
    /// A zip's entry count.
    #[serde(default)]
    entries: Option<u64>,
    #[serde(skip)]
    runs: Vec<Run>,
    #[serde(skip)]
    mbps: Option<f64>,
    #[serde(skip)]
    pss_growth: Option<f64>,
    #[serde(skip)]
    error: Option<String>,
    /// Where no run finished: the highest of the cut-off runs' upper bounds.
    #[serde(skip)]
    bound: Option<f64>,
}

/// The lower median (the middle run of an odd count).
fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len().saturating_sub(1) / 2).copied()
}

/// The figures of the records, in the order their cases first ran. A case run again in a later
/// session (a `playwright test` of it into the same file) replaces its earlier runs.
fn figures(records: Vec<Record>) -> Vec<Figure> {
    let key = |f: &Figure| (f.engine.clone(), f.case.clone(), f.size);
    let mut latest: BTreeMap<(String, String, u64), String> = BTreeMap::new();
    for r in &records {
        latest.insert(key(&r.figure), r.session.clone());
    }
    let mut figures: Vec<Figure> = Vec::new();
    for Record { session, figure, run } in records {
        if latest.get(&key(&figure)) != Some(&session) {
            continue;
        }
        match figures.iter_mut().find(|f| key(f) == key(&figure)) {
            Some(known) => known.runs.push(run),
            None => figures.push(Figure { runs: vec![run], ..figure }),
        }
    }
    for f in &mut figures {
        let good: Vec<&Run> = f.runs.iter().filter(|r| r.error.is_none()).collect();
        f.mbps = median(good.iter().map(|r| r.mbps).collect());
        f.pss_growth = median(good.iter().filter_map(|r| r.pss_growth).collect());
        f.error = f.runs.iter().find_map(|r| r.error.clone());
        f.bound = f.runs.iter().filter_map(|r| r.bound).reduce(f64::max);
    }
    figures
}

const ENGINES: [&str; 3] = ["chromium", "firefox", "webkit"];
const MIB: f64 = 1_048_576.0;

/// Runs the benchmark and writes the report.
pub fn bench(root: &Path, geckodriver: &Path, quick: bool, runs: Option<u32>) -> Result<(), Fail> {
    let out = root.join("target/bench/results.jsonl");
    let _ = std::fs::remove_file(&out);
    let runs = runs.unwrap_or(if quick { 1 } else { 3 });
    step(&format!(
        "benchmark: Playwright in chromium, firefox, webkit ({runs} run(s) per figure{})",
        if quick { ", --quick" } else { "" }
    ));
    let mut cmd = crate::browsers::npx_with_display();
    cmd.current_dir(root)
        .args(["playwright", "test", "--config", "playwright.bench.config.ts", "bench.spec.ts"])
        .env("SLUICE_BENCH_QUICK", if quick { "1" } else { "0" })
        .env("SLUICE_BENCH_RUNS", runs.to_string())
        .env("SLUICE_BENCH_OUT", &out)
        .env("SLUICE_BENCH_SESSION", std::process::id().to_string())
        .env("GECKODRIVER", geckodriver)
        .env("CI", "1");
    // A case that fails is a figure ("failed: ..."), so the report is written whatever the exit.
    let status = util::run(&mut cmd);
    let report = write_report(root, quick, runs);
    status.and(report)
}

/// Profiles the large-write cases in Chromium and WebKitGTK (compat-tests/bench/profile.spec.ts):
/// where each thread's time goes, in `target/bench/profile.md`. WebKitGTK's takes Linux `perf`
/// (installed with apt when missing).
pub fn profile(root: &Path, mib: u32) -> Result<(), Fail> {
    // Without perf, WebKitGTK's cases say why in the report; Chromium's still run.
    if util::output(Command::new("perf").arg("--version")).is_none() {
        if let Err(Fail(why)) = crate::setup::apt_install(&["linux-perf"]) {
            println!("    no perf, so no WebKitGTK profile: {why}");
        }
    }
    step(&format!(
        "profile: Chromium's sampling profiler and perf over WebKitGTK, {mib} MiB per case (SLUICE_PROFILE_CASES: which)"
    ));
    // A new report, and no JIT dumps of an earlier run (the spec checks that the browser wrote some).
    let out = root.join("target/bench/profile.md");
    let perf = root.join("target/bench/perf");
    if out.exists() {
        std::fs::remove_file(&out).map_err(|e| Fail(format!("removing {}: {e}", out.display())))?;
    }
    if perf.exists() {
        std::fs::remove_dir_all(&perf).map_err(|e| Fail(format!("removing {}: {e}", perf.display())))?;
    }
    let mut cmd = crate::browsers::npx_with_display();
    cmd.current_dir(root)
        .args(["playwright", "test", "--config", "playwright.bench.config.ts", "profile.spec.ts"])
        .args(["--project=chromium", "--project=webkit"])
        .env("SLUICE_PROFILE_MIB", mib.to_string())
        .env("CI", "1");
    util::run(&mut cmd)?;
    println!("{}", String::from_utf8_lossy(&util::read(&out)?));
    Ok(())
}

/// Writes `BENCHMARKS.md` and `BENCHMARKS.svg` from `target/bench/results.jsonl` (the last run,
/// and any case re-run into it since: `cargo xtask bench --report`).
pub fn write_report(root: &Path, quick: bool, runs: u32) -> Result<(), Fail> {
    let out = root.join("target/bench/results.jsonl");
    let text =
        std::fs::read_to_string(&out).map_err(|e| Fail(format!("no benchmark results in {}: {e}", out.display())))?;
    let records: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| Fail(format!("bad benchmark result line: {e}")))?;
    let results = figures(records);
    let command = format!(
        "cargo xtask bench{}{}{}",
        if quick { " --quick" } else { "" },
        if runs != 3 && !quick { format!(" --runs {runs}") } else { String::new() },
        if with_zip(&results) { " --zip" } else { "" }
    );
    let sizes = DistSizes::measure(root)?;
    let report = report(&results, &command, runs, &sizes);
    util::write(&root.join("BENCHMARKS.md"), &report)?;
    chart(&root.join("BENCHMARKS.svg"), &results)?;
    println!("{report}");
    println!("    written: BENCHMARKS.md, BENCHMARKS.svg");
    Ok(())
}

/// What an app serves of Sluice (page + service worker + wasm), at most, gzipped (issue 10).
const DIST_BUDGET: u64 = 120 * 1024;

/// Fails when `dist/` grew past [`DIST_BUDGET`].
pub fn dist_within_budget(root: &Path) -> Result<(), Fail> {
    let sluice = sluice_dist(root)?;
    let kib = sluice as f64 / 1024.0;
    step(&format!(
        "dist/ size: {sluice} B ({kib:.1} KiB) gzipped (budget {DIST_BUDGET} B, {} KiB)",
        DIST_BUDGET / 1024
    ));
    if sluice > DIST_BUDGET {
        return Err(Fail(format!("dist/ is {sluice} B gzipped, over its budget of {DIST_BUDGET} B")));
    }
    Ok(())
}

/// Gzipped sizes of what an app serves: Sluice's dist/ against StreamSaver.js's three files.
struct DistSizes {
    sluice: u64,
    streamsaver: u64,
}

impl DistSizes {
    fn measure(root: &Path) -> Result<Self, Fail> {
        let ss = root.join("node_modules/streamsaver");
        Ok(Self {
            sluice: sluice_dist(root)?,
            streamsaver: gzipped(&["StreamSaver.js", "sw.js", "mitm.html"].map(|f| ss.join(f)))?,
        })
    }
}

/// Sluice's `dist/` (page + service worker + wasm), gzipped.
fn sluice_dist(root: &Path) -> Result<u64, Fail> {
    let dist = root.join("dist");
    gzipped(&["sluice.js", "sluice_bg.wasm", "sluice-sw.js"].map(|f| dist.join(f)))
}

/// The gzipped sizes of `files`, summed (best compression, as a server would serve them).
fn gzipped(files: &[std::path::PathBuf]) -> Result<u64, Fail> {
    files.iter().try_fold(0, |sum, file| {
        let bytes = util::read(file)?;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(&bytes)
            .and_then(|()| encoder.finish())
            .map(|z| sum + z.len() as u64)
            .map_err(|e| Fail(e.to_string()))
    })
}

/// The result of `case` at the `nth` size it ran at (sizes ascending) in `engine`.
fn find<'a>(results: &'a [Figure], engine: &str, case: &str, nth: usize) -> Option<&'a Figure> {
    let mut sizes: Vec<&Figure> = results.iter().filter(|r| r.engine == engine && r.case == case).collect();
    sizes.sort_by_key(|r| r.size);
    sizes.get(nth).copied()
}

fn size_name(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} B"),
    }
}

fn workload(r: &Figure) -> String {
    if let Some(entries) = r.entries {
        format!("zip of {} x {}, stored", group(entries), size_name(r.size / entries.max(1)))
    } else if let Some(count) = r.case.rsplit_once("-x").and_then(|(_, n)| n.parse::<u64>().ok()) {
        format!("{count} x {} of 1 MiB writes, at once", size_name(r.size))
    } else if r.writes * 100 == r.size {
        format!("{} x 100 B", group(r.writes))
    } else {
        format!("{} of 1 MiB writes", size_name(r.size))
    }
}

/// The tiny-write lines of `engine`: Sluice against StreamSaver.js, the producer alone and the
/// producer into a JavaScript sink, with Sluice's share of each.
fn tiny_writes(results: &[Figure], engine: &str) -> String {
    let r = |case: &str| find(results, engine, case, 0);
    let mbps = |case: &str| r(case).and_then(|x| x.mbps);
    let share = |of: f64| mbps("sluice-tiny").map(|s| format!("Sluice {:.0}% of it", 100.0 * s / of));
    let mut out = format!(
        "- Tiny writes ({}), Sluice / StreamSaver.js: {}\n",
        r("sluice-tiny")
            .map(|f| format!("{}, median of {} runs", workload(f), f.runs.iter().filter(|r| r.error.is_none()).count()))
            .unwrap_or_default(),
        ratio(r("sluice-tiny"), r("streamsaver-tiny"))
    );
    if let Some(alone) = mbps("producer-tiny") {
        out += &format!(
            "- Tiny writes, the producer alone (into a `WritableStream` that keeps nothing, timed in the page while the memory sampler runs, as it does for every download): {alone:.1} MB/s{}\n",
            share(alone).map(|s| format!(", {s}")).unwrap_or_default()
        );
        if let Some(sink) = mbps("producer-sink-tiny") {
            out += &format!(
                "- Tiny writes, the producer into a JavaScript sink that keeps nothing (`write() {{}}`: the least any `WritableStream` whose sink is JavaScript costs): {sink:.1} MB/s, {:.0}% of the producer alone{}\n",
                100.0 * sink / alone,
                share(sink).map(|s| format!("; {s}")).unwrap_or_default()
            );
        }
    }
    out
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `a / b` of two results' MB/s, as "1.23x (a vs b MB/s)", or why not.
fn ratio(a: Option<&Figure>, b: Option<&Figure>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => match (a.mbps, b.mbps) {
            (Some(x), Some(y)) if y > 0.0 => format!("**{:.2}x** ({x:.1} vs {y:.1} MB/s)", x / y),
            (Some(x), None) => match b.bound.filter(|&most| most > 0.0) {
                Some(most) => format!(
                    "**over {:.1}x** ({x:.1} MB/s vs at most {most:.2} MB/s: the other was cut off, {})",
                    x / most,
                    b.error.as_deref().unwrap_or("failed")
                ),
                None => {
                    format!("only Sluice finished ({x:.1} MB/s; the other: {})", b.error.as_deref().unwrap_or("failed"))
                }
            },
            (None, _) => format!("failed: {}", a.error.as_deref().unwrap_or("?")),
            _ => "-".into(),
        },
        _ => "not run".into(),
    }
}

/// Whether Sluice's zip ran (dist/ had createZip: `--zip`).
fn with_zip(results: &[Figure]) -> bool {
    results.iter().any(|r| r.case.starts_with("sluice-zip") && r.mbps.is_some())
}

fn growth(r: Option<&Figure>) -> Option<f64> {
    r.and_then(|r| r.pss_growth)
}

/// Two memory growths side by side, as "{lead}memory +1 vs +2 MiB", or nothing if one is missing.
fn memory_vs(lead: &str, a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{lead}memory {:+.0} vs {:+.0} MiB", a / MIB, b / MIB),
        _ => String::new(),
    }
}

fn report(results: &[Figure], command: &str, runs: u32, sizes: &DistSizes) -> String {
    let mut md = String::new();
    let line = |md: &mut String, s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    line(&mut md, "# Sluice benchmarks");
    line(&mut md, "");
    let date = util::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default();
    let machine = machine();
    line(&mut md, &format!("Written by `{command}` on {} ({machine}). Every figure is from this run: real downloads to disk, each file checked byte-exact (sha256), MB/s = 10^6 B/s from the first write to the complete file, median of {runs} run(s), interleaved (the first run of every case, then the second, each in a browser of its own, so that a machine slowing down weighs on every case alike; the tiny writes of Sluice and of the producer alone take several runs in each browser, as many as their lines say); memory is the peak PSS growth of all the browser's processes during the download. The producer writes the same generated bytes in 1 MiB `await writer.write()` calls with a macrotask yield after each, or 100 B writes without one.", date.trim()));
    line(&mut md, "");
    let mut versions: Vec<String> = ENGINES
        .iter()
        .filter_map(|e| results.iter().find(|r| r.engine == *e).map(|r| format!("{e}: {}", r.version)))
        .collect();
    versions.push("StreamSaver.js 2.0.6 (npm, unmodified)".into());
    line(&mut md, &format!("Engines: {}.", versions.join("; ")));
    line(&mut md, "");
    line(&mut md, "## Which path `auto` takes");
    line(&mut md, "");
    md.push_str(&auto_path(results));
    let failed = failed_runs(results);
    if !failed.is_empty() {
        line(&mut md, "");
        line(&mut md, "## Runs that failed");
        line(&mut md, "");
        md.push_str(&failed);
    }
    line(&mut md, "");
    line(&mut md, "## Ratios");
    line(&mut md, "");
    for engine in ENGINES {
        if !results.iter().any(|r| r.engine == engine) {
            continue;
        }
        line(&mut md, &format!("**{engine}**"));
        let r = |case: &str, nth: usize| find(results, engine, case, nth);
        let big =
            |nth: usize| r("streamsaver", nth).or(r("ceiling", nth)).map(|x| size_name(x.size)).unwrap_or_default();
        let sluice_main = if r("sluice-transfer", 0).is_some() { "sluice-transfer" } else { "sluice-fallback" };
        for nth in 0..2 {
            for case in ["sluice-transfer", "sluice-fallback"] {
                if r(case, nth).is_some() {
                    line(
                        &mut md,
                        &format!(
                            "- {} / StreamSaver.js, {}: {}",
                            label(case),
                            big(nth),
                            ratio(r(case, nth), r("streamsaver", nth))
                        ),
                    );
                }
            }
        }
        md.push_str(&tiny_writes(results, engine));
        for nth in 0..2 {
            if r("sluice-transfer", nth).is_some() {
                line(
                    &mut md,
                    &format!(
                        "- Fallback / transfer, {}: {}",
                        big(nth),
                        ratio(r("sluice-fallback", nth), r("sluice-transfer", nth))
                    ),
                );
            }
            line(
                &mut md,
                &format!(
                    "- Fallback / in-worker ceiling, {}: {}",
                    big(nth),
                    ratio(r("sluice-fallback", nth), r("ceiling", nth))
                ),
            );
            line(
                &mut md,
                &format!(
                    "- Fallback / postMessage alone (no Sluice), {}: {}",
                    big(nth),
                    ratio(r("sluice-fallback", nth), r("messages", nth))
                ),
            );
        }
        line(
            &mut md,
            &format!(
                "- Fallback window 8 / window 1, {}: {}",
                big(0),
                ratio(r("sluice-fallback", 0), r("sluice-fallback-window-1", 0))
            ),
        );
        line(
            &mut md,
            &format!(
                "- Fallback 1 MiB / 64 KiB chunks, {}: {}",
                big(0),
                ratio(r("sluice-fallback", 0), r("sluice-fallback-64k-chunks", 0))
            ),
        );
        for case in ["sluice-opfs", "sluice-blob"] {
            if r(case, 0).is_some() {
                let main = label(sluice_main);
                line(
                    &mut md,
                    &format!("- {} / {main}, {}: {}", label(case), big(0), ratio(r(case, 0), r(sluice_main, 0))),
                );
            }
        }
        let mut memory = Vec::new();
        for case in [sluice_main, "sluice-fallback", "streamsaver", "ceiling", "messages"] {
            if let (Some(small), Some(large)) = (growth(r(case, 0)), growth(r(case, 1))) {
                let entry = format!("{} {:+.0} MiB", label(case), (large - small) / MIB);
                if !memory.contains(&entry) {
                    memory.push(entry);
                }
            }
        }
        line(
            &mut md,
            &format!(
                "- Memory growth, {} vs {}: {}",
                big(1),
                big(0),
                if memory.is_empty() { "-".into() } else { memory.join(", ") }
            ),
        );
        // Scale: downloads at once against one, and one long download against the 2 GiB one.
        for path in ["transfer", "fallback"] {
            let one = format!("sluice-{path}");
            let size_of = |nth: usize| r(&one, nth).map(|x| size_name(x.size)).unwrap_or_default();
            for count in [4, 16] {
                let many = format!("sluice-{path}-x{count}");
                if let Some(m) = r(&many, 0) {
                    let memory = memory_vs("; ", growth(Some(m)), growth(r(&one, 0)));
                    line(
                        &mut md,
                        &format!(
                            "- {count} {path} downloads of {} at once (aggregate) / one of {}: {}{memory}",
                            size_name(m.size),
                            size_of(0),
                            ratio(Some(m), r(&one, 0))
                        ),
                    );
                }
            }
            let huge = r(&format!("sluice-{path}-huge"), 0);
            if let (Some(h), Some(x), Some(y)) = (huge, growth(huge), growth(r(&one, 1))) {
                line(
                    &mut md,
                    &format!(
                        "- Memory growth, {path}, {} vs {}: {:+.0} vs {:+.0} MiB ({:.1} MB/s)",
                        size_name(h.size),
                        size_of(1),
                        x / MIB,
                        y / MIB,
                        h.mbps.unwrap_or_default()
                    ),
                );
            }
        }
        // Zips: Sluice's against client-zip's (piped into Sluice's download), and against a
        // single-file download of the same bytes on the same path.
        for shape in ["many", "large"] {
            let (ours, theirs) = (format!("sluice-zip-{shape}"), format!("client-zip-{shape}"));
            if let Some(zip) = r(&ours, 0).or(r(&theirs, 0)) {
                let memory = memory_vs("; ", growth(r(&ours, 0)), growth(r(&theirs, 0)));
                line(
                    &mut md,
                    &format!(
                        "- Sluice zip / client-zip, {}: {}{memory}",
                        workload(zip),
                        ratio(r(&ours, 0), r(&theirs, 0))
                    ),
                );
            }
        }
        if let Some(zip) = r("sluice-zip-large", 0) {
            let single = [sluice_main, "sluice-fallback"].into_iter().find_map(|case| {
                [0, 1].into_iter().filter_map(|nth| r(case, nth)).find(|x| x.size == zip.size && x.how == zip.how)
            });
            line(
                &mut md,
                &format!(
                    "- Sluice zip / Sluice single file, the same {} ({}): {}",
                    size_name(zip.size),
                    zip.how,
                    ratio(Some(zip), single)
                ),
            );
        }
        line(&mut md, "");
    }
    let with_zip = with_zip(results);
    line(&mut md, &format!("Size served to a browser (gzip -9): Sluice `dist/` (page + service worker + wasm{}) {:.1} KiB; StreamSaver.js (script + sw.js + mitm.html) {:.1} KiB.", if with_zip { ", with createZip" } else { "" }, sizes.sluice as f64 / 1024.0, sizes.streamsaver as f64 / 1024.0));
    line(&mut md, "");
    line(&mut md, "![MB/s per case and engine](BENCHMARKS.svg)");
    line(&mut md, "");
    line(&mut md, "## Figures");
    for engine in ENGINES {
        let rows: Vec<&Figure> = results.iter().filter(|r| r.engine == engine).collect();
        if rows.is_empty() {
            continue;
        }
        line(&mut md, "");
        line(&mut md, &format!("### {engine} ({})", rows[0].version));
        line(&mut md, "");
        line(&mut md, "| case | how it saves | workload | MB/s (median) | runs (MB/s) | peak PSS growth |");
        line(&mut md, "|---|---|---|---|---|---|");
        for r in rows {
            let each: Vec<String> = r
                .runs
                .iter()
                .map(|run| match run.error {
                    Some(_) => "failed".into(),
                    None => format!("{:.1}", run.mbps),
                })
                .collect();
            let mbps = match (r.mbps, &r.error) {
                (Some(m), _) => format!("{m:.1}"),
                (None, Some(e)) => format!("failed: {}", e.replace('|', "/")),
                (None, None) => "-".into(),
            };
            let pss = r.pss_growth.map_or("-".into(), |g| format!("{:+.0} MiB", g / MIB));
            line(
                &mut md,
                &format!("| {} | {} | {} | {mbps} | {} | {pss} |", label(&r.case), r.how, workload(r), each.join(", ")),
            );
        }
    }
    line(&mut md, "");
    line(&mut md, "Cases: Sluice on each path (the fallback with its default window of 8 chunks / 8 MiB, with a window of one 1 MiB chunk, and with 64 KiB chunks), and on the rungs without a service worker (`mode: 'opfs'`: staged in the origin-private file system, then handed over; `mode: 'blob'`: in memory); StreamSaver.js 2.0.6 as its README says (its `mitm.html` and `sw.js` served from this origin; where it falls back to a Blob it holds the whole file in memory); the ceiling, a service worker that generates the same bytes itself with no page involved (compat-tests/demo/bench/ceiling/sw.js); postMessage alone, the fallback path's transport without Sluice: each 1 MiB write copied and posted to a service worker over a `MessageChannel` once its response stream granted it, 8 chunks in flight (compat-tests/demo/bench/messages/sw.js). Scale: 4 and 16 Sluice downloads of 256 MiB at once on each path (16 MiB with --quick; their aggregate MB/s against one download, and the memory growth of all of them), and one 8 GiB download per path, in the first round only (512 MiB with --quick; its memory growth against the 2 GiB one's, which must stay flat). The tiny writes and the zips run on the path `auto` takes; the tiny writes are also timed into a `WritableStream` with no sink and into one whose sink is a JavaScript `write() {}` that keeps nothing, in the page, with the memory sampler running as for a download. Zips, stored, of the same generated entries on the path `auto` takes: 1,000 entries of 1 MiB (100 with --quick) and one of 2 GiB (128 MiB), Sluice's `createZip` against client-zip 2.5.1 (npm, unmodified) piped into a Sluice download of its predicted size; each archive checked by unzip -t, Python's zipfile (every entry by sha256), 7z t and bsdtar. Sluice's zip needs `createZip` in dist/: `cargo xtask bench --zip`.");
    md
}

/// How much slower the fallback may save than the transfer path before `auto`, which takes the
/// fallback, counts as leaving speed on the table (issue 29: `auto`'s path >= 0.95x the faster).
const AUTO_SLACK: f64 = 0.95;

/// Which path `auto` takes and, from this run's fallback / transfer ratios, whether that leaves
/// speed on the table in any engine.
fn auto_path(results: &[Figure]) -> String {
    let mut md = String::from("`auto` takes the fallback path in every engine (the transfer path only when asked for, `mode: 'transfer'`): it works wherever the transfer path does. Fallback / transfer in this run (MB/s, and memory as peak PSS growth):\n\n");
    let mut slower = Vec::new();
    for engine in ENGINES {
        let r = |case: &str, nth: usize| find(results, engine, case, nth);
        if r("sluice-fallback", 0).is_none() {
            continue;
        }
        if r("sluice-transfer", 0).is_none() {
            md.push_str(&format!("- {engine}: only the fallback works here (no transferable streams)\n"));
            continue;
        }
        let mut sizes = Vec::new();
        for nth in 0..2 {
            let (Some(fallback), Some(transfer)) = (r("sluice-fallback", nth), r("sluice-transfer", nth)) else {
                continue;
            };
            let memory = memory_vs(", ", fallback.pss_growth, transfer.pss_growth);
            sizes.push(format!("{}: {}{memory}", size_name(fallback.size), ratio(Some(fallback), Some(transfer))));
            if let (Some(f), Some(t)) = (fallback.mbps, transfer.mbps) {
                if f < AUTO_SLACK * t {
                    slower.push(format!("{engine} at {} ({:.2}x)", size_name(fallback.size), f / t));
                }
            }
        }
        md.push_str(&format!("- {engine}: {}\n", sizes.join("; ")));
    }
    md.push('\n');
    if slower.is_empty() {
        md.push_str(&format!("Wherever both paths ran, the fallback saved at least {AUTO_SLACK}x as fast as the transfer path: `auto` leaves no speed on the table.\n"));
    } else {
        md.push_str(&format!(
            "**The transfer path saved faster by more than {:.0}% in {}: there `auto` leaves speed on the table.**\n",
            100.0 * (1.0 - AUTO_SLACK),
            slower.join(", ")
        ));
    }
    md
}

/// Every run that failed, with its message.
fn failed_runs(results: &[Figure]) -> String {
    let mut md = String::new();
    for f in results {
        for (i, run) in f.runs.iter().enumerate() {
            if let Some(error) = &run.error {
                let error = error.replace('\n', " ");
                md.push_str(&format!(
                    "- {}, {}, {} (run {} of {}): {error}\n",
                    f.engine,
                    label(&f.case),
                    workload(f),
                    i + 1,
                    f.runs.len()
                ));
            }
        }
    }
    md
}

fn label(case: &str) -> &'static str {
    match case {
        "sluice-transfer" => "Sluice transfer",
        "sluice-fallback" => "Sluice fallback",
        "sluice-fallback-window-1" => "Sluice fallback, window 1",
        "sluice-fallback-64k-chunks" => "Sluice fallback, 64 KiB chunks",
        "sluice-opfs" => "Sluice OPFS rung",
        "sluice-blob" => "Sluice Blob rung",
        "ceiling" => "Ceiling (in-worker)",
        "messages" => "postMessage alone",
        "streamsaver" => "StreamSaver.js",
        "sluice-tiny" => "Sluice, tiny writes",
        "streamsaver-tiny" => "StreamSaver.js, tiny writes",
        "producer-tiny" => "Producer alone, tiny writes",
        "producer-sink-tiny" => "Producer into a JavaScript sink, tiny writes",
        "sluice-transfer-x4" | "sluice-transfer-x16" => "Sluice transfer, at once",
        "sluice-fallback-x4" | "sluice-fallback-x16" => "Sluice fallback, at once",
        "sluice-transfer-huge" => "Sluice transfer, one long download",
        "sluice-fallback-huge" => "Sluice fallback, one long download",
        "sluice-zip-many" | "sluice-zip-large" => "Sluice createZip",
        "client-zip-many" | "client-zip-large" => "client-zip into a Sluice download",
        _ => "other",
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(String::new(), |kb| format!(", {:.0} GiB", kb / MIB));
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|o| o.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| l[12..].trim_matches('"').to_owned()))
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{os}, {cpu}, {cores} cores{memory}")
}

/// A font for the chart's text: DejaVu Sans (installed with apt when missing).
fn font() -> Result<&'static [u8], Fail> {
    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    if !Path::new(DEJAVU).exists() && cfg!(target_os = "linux") {
        crate::setup::apt_install(&["fonts-dejavu-core"])?;
    }
    let bytes = std::fs::read(DEJAVU).map_err(|e| Fail(format!("cannot read the chart's font {DEJAVU}: {e}")))?;
    Ok(Box::leak(bytes.into_boxed_slice()))
}

/// Horizontal bars of MB/s, one panel per engine, one bar per case and size.
fn chart(path: &Path, results: &[Figure]) -> Result<(), Fail> {
    let font = font()?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| Fail("the chart's font cannot be read".into()))?;
    let engines: Vec<&str> = ENGINES.iter().copied().filter(|e| results.iter().any(|r| r.engine == *e)).collect();
    let mut bars: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    for r in results {
        let name = format!("{}, {}", label(&r.case), workload(r));
        bars.entry(&r.engine).or_default().push((name, r.mbps.unwrap_or(0.0)));
    }
    let rows = bars.values().map(Vec::len).max().unwrap_or(1).max(1);
    let height = 60 + rows as u32 * 22;
    let svg = SVGBackend::new(path, (1000, height * engines.len().max(1) as u32)).into_drawing_area();
    let fail = |e: String| Fail(format!("cannot draw {}: {e}", path.display()));
    svg.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let panels = svg.split_evenly((engines.len().max(1), 1));
    let top = results.iter().filter_map(|r| r.mbps).fold(1.0f64, f64::max) * 1.15;
    for (panel, engine) in panels.iter().zip(&engines) {
        let data = bars.get(engine).cloned().unwrap_or_default();
        let version = results.iter().find(|r| r.engine == *engine).map_or("", |r| r.version.as_str());
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{version}: MB/s to disk"), ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(0)
            .build_cartesian_2d(-top * 0.75..top, 0.0..data.len().max(1) as f64)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| if *x < 0.0 { String::new() } else { format!("{x:.0}") })
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        let count = data.len();
        let color = |name: &str| match name {
            n if n.starts_with("StreamSaver") => RGBColor(200, 90, 60),
            n if n.starts_with("Ceiling") => RGBColor(150, 150, 150),
            _ => RGBColor(40, 110, 190),
        };
        chart
            .draw_series(data.iter().enumerate().map(|(i, (name, mbps))| {
                let y = (count - 1 - i) as f64;
                Rectangle::new([(0.0, y + 0.15), (*mbps, y + 0.85)], color(name).filled())
            }))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(data.iter().enumerate().map(|(i, (name, mbps))| {
                let y = (count - 1 - i) as f64 + 0.75;
                let text = if *mbps > 0.0 { format!("{name}: {mbps:.0}") } else { format!("{name}: failed") };
                Text::new(text, (-top * 0.74, y), ("sans-serif", 13).into_font())
            }))
            .map_err(|e| fail(e.to_string()))?;
    }
    svg.present().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(session: &str, case: &str, size: u64, mbps: f64, error: Option<&str>) -> Record {
        let line = serde_json::json!({
            "session": session, "engine": "firefox", "version": "1", "case": case, "impl": "sluice",
            "how": "transfer", "size": size, "writes": size, "chunk": 1,
            "run": { "seconds": 1.0, "mbps": mbps, "pssGrowth": mbps * 2.0, "error": error },
        });
        serde_json::from_value(line).unwrap()
    }

    #[test]
    fn interleaved_runs_become_one_figure_per_case_and_size() {
        let records = vec![
            record("a", "x", 1, 30.0, None),
            record("a", "y", 1, 5.0, None),
            record("a", "x", 2, 7.0, Some("cut short")),
            record("a", "x", 1, 10.0, None),
            record("a", "y", 1, 6.0, None),
            record("a", "x", 1, 20.0, None),
        ];
        let figures = figures(records);
        let keys: Vec<(&str, u64)> = figures.iter().map(|f| (f.case.as_str(), f.size)).collect();
        assert_eq!(keys, vec![("x", 1), ("y", 1), ("x", 2)], "in the order the cases first ran");
        assert_eq!((figures[0].mbps, figures[0].pss_growth, figures[0].runs.len()), (Some(20.0), Some(40.0), 3));
        assert_eq!(figures[1].mbps, Some(5.0), "the lower median of an even count");
        assert_eq!((figures[2].mbps, figures[2].error.as_deref()), (None, Some("cut short")));
    }

    #[test]
    fn a_cut_off_run_gives_a_lower_bound_of_the_ratio() {
        let mut cut = record("a", "y", 1, 0.0, Some("cut off"));
        cut.run.bound = Some(0.5);
        let mut other = record("a", "y", 1, 0.0, Some("cut off"));
        other.run.bound = Some(0.25);
        let cut = figures(vec![record("a", "x", 1, 30.0, None), cut, other]);
        assert_eq!(cut[1].bound, Some(0.5), "the most generous bound of the cut-off runs");
        assert!(ratio(Some(&cut[0]), Some(&cut[1])).starts_with("**over 60.0x**"));
        let failed = figures(vec![record("a", "x", 1, 30.0, None), record("a", "y", 1, 0.0, Some("broken"))]);
        assert!(ratio(Some(&failed[0]), Some(&failed[1])).starts_with("only Sluice finished"));
    }

    #[test]
    fn the_auto_section_says_where_the_transfer_path_was_faster() {
        let both = |fallback: f64, transfer: f64| {
            let mut records = vec![
                record("a", "sluice-transfer", 1, transfer, None),
                record("a", "sluice-fallback", 1, fallback, None),
            ];
            records.push(record("a", "sluice-fallback", 1, 0.0, Some("cancelled\nby the browser")));
            figures(records)
        };
        let even = auto_path(&both(96.0, 100.0));
        assert!(even.contains("firefox: 1 B: **0.96x** (96.0 vs 100.0 MB/s), memory +0 vs +0 MiB"), "{even}");
        assert!(even.contains("leaves no speed on the table"), "{even}");
        let slower = auto_path(&both(90.0, 100.0));
        assert!(slower.contains("saved faster by more than 5% in firefox at 1 B (0.90x)"), "{slower}");
        assert_eq!(
            failed_runs(&both(1.0, 1.0)),
            "- firefox, Sluice fallback, 1 B of 1 MiB writes (run 2 of 2): cancelled by the browser\n"
        );
        let alone = auto_path(&figures(vec![record("a", "sluice-fallback", 1, 5.0, None)]));
        assert!(alone.contains("- firefox: only the fallback works here"), "{alone}");
    }

    #[test]
    fn the_tiny_writes_say_sluice_s_share_of_the_producer_alone_and_of_a_javascript_sink() {
        let run = |case: &str, mbps: f64, error: Option<&str>| {
            let mut r = record("a", case, 100, mbps, error);
            r.figure.writes = 1;
            r
        };
        let tiny = |case: &str, mbps: f64| run(case, mbps, None);
        let results = figures(vec![
            tiny("sluice-tiny", 15.0),
            run("sluice-tiny", 0.0, Some("cut off")),
            tiny("sluice-tiny", 18.0),
            tiny("sluice-tiny", 16.0),
            tiny("streamsaver-tiny", 2.0),
            tiny("producer-tiny", 20.0),
            tiny("producer-sink-tiny", 16.0),
        ]);
        let lines = tiny_writes(&results, "firefox");
        assert!(
            lines.contains("Tiny writes (1 x 100 B, median of 3 runs), Sluice / StreamSaver.js: **8.00x**"),
            "{lines}"
        );
        assert!(lines.contains("keeps nothing, timed in the page while the memory sampler runs, as it does for every download): 20.0 MB/s, Sluice 80% of it\n"), "{lines}");
        assert!(lines.contains("16.0 MB/s, 80% of the producer alone; Sluice 100% of it\n"), "{lines}");
        let without_sink = figures(vec![tiny("sluice-tiny", 15.0), tiny("producer-tiny", 20.0)]);
        assert!(!tiny_writes(&without_sink, "firefox").contains("JavaScript sink"));
    }

    #[test]
    fn a_case_run_again_in_a_later_session_replaces_its_runs() {
        let records =
            vec![record("a", "x", 1, 30.0, None), record("a", "y", 1, 5.0, None), record("b", "x", 1, 99.0, None)];
        let figures = figures(records);
        let of = |case: &str| figures.iter().find(|f| f.case == case).map(|f| (f.mbps, f.runs.len()));
        assert_eq!(figures.len(), 2);
        assert_eq!(of("x"), Some((Some(99.0), 1)));
        assert_eq!(of("y"), Some((Some(5.0), 1)));
    }
}
