//! Sluice's compatibility matrix: features x engines, built from Playwright Test's JSON report
//! of the specs in `compat-tests/specs/`, and written as Markdown, JSON and HTML.
//!
//! A spec names the rows it stands for with a static `matrix` annotation (kept when it skips),
//! may add `figure` annotations (`"<row>: <text>"`), and the fixture adds an `engine` annotation
//! with the browser's version. A cell passes when a test of its row passed in that engine and
//! none failed; it is "n.a." or "not available" when every such test skipped (with the reason),
//! and "not run" when no test of the row ran there at all.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A feature: one line of `compat-tests/rows.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// What specs name in their `matrix` annotation.
    pub id: String,
    /// What the matrix shows.
    pub title: String,
}

/// The result of one feature in one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// A test passed and none failed.
    #[serde(rename = "pass")]
    Pass,
    /// A test failed.
    #[serde(rename = "fail")]
    Fail,
    /// The feature does not apply to this engine (the reason is in the cell's note).
    #[serde(rename = "n.a.")]
    NotApplicable,
    /// The engine is not on this machine.
    #[serde(rename = "not available")]
    NotAvailable,
    /// No test of this row ran in this engine: the matrix cannot say.
    #[serde(rename = "not run")]
    NotRun,
}

impl Status {
    /// The word shown in a cell.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "n.a.",
            Status::NotAvailable => "not available",
            Status::NotRun => "not run",
        }
    }

    /// Whether this cell means something is wrong.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Fail | Status::NotRun)
    }
}

/// One feature in one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Pass, fail, ...
    pub status: Status,
    /// Figures the tests recorded (MB/s, seconds, MiB).
    pub figures: Vec<String>,
    /// Why it is not applicable, or the first line of the failure.
    pub note: Option<String>,
}

/// A column: one Playwright project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    /// The project's name (`chromium`, `firefox`, `webkit`, `playwright-webkit`, `safari`).
    pub name: String,
    /// The browser's name and version, when it ran.
    pub version: Option<String>,
    /// Why it did not run, when it is not on this machine.
    pub unavailable: Option<String>,
}

/// A line of the matrix: a feature and its cell in each engine (same order as the engines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The feature.
    #[serde(flatten)]
    pub row: Row,
    /// One cell per engine.
    pub cells: Vec<Cell>,
}

/// Features x engines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// When the run started (ISO 8601, from the report).
    pub date: String,
    /// The machine it ran on, when the caller says.
    pub machine: Option<String>,
    /// The columns.
    pub engines: Vec<Engine>,
    /// The rows, in the order of `rows.json`.
    pub lines: Vec<Line>,
}

/// What keeps a report from becoming a matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// The report is not Playwright's JSON report.
    #[error("not a Playwright JSON report: {0}")]
    BadReport(&'static str),
    /// A spec names a row that `rows.json` does not have.
    #[error("the test \"{test}\" names the matrix row \"{row}\", which compat-tests/rows.json does not have")]
    UnknownRow {
        /// The row's id as the spec wrote it.
        row: String,
        /// The test's title.
        test: String,
    },
}

/// How many tests of one project passed, failed and skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Passed as expected.
    pub passed: u64,
    /// Failed, timed out or passed only on retry.
    pub failed: u64,
    /// Skipped (n.a. or not available).
    pub skipped: u64,
}

/// The test counts of each project in a Playwright JSON report, in the report's order.
pub fn counts(report: &Value) -> Vec<(String, Counts)> {
    let mut out: Vec<(String, Counts)> = Vec::new();
    for test in collect(report) {
        let index = match out.iter().position(|(p, _)| p == test.project) {
            Some(index) => index,
            None => {
                out.push((test.project.to_owned(), Counts::default()));
                out.len() - 1
            }
        };
        let count = &mut out[index].1;
        match test.status {
            "expected" => count.passed += 1,
            "skipped" => count.skipped += 1,
            _ => count.failed += 1,
        }
    }
    out
}

/// One test of one project, as the report has it.
struct TestResult<'a> {
    project: &'a str,
    title: String,
    status: &'a str,
    annotations: Vec<(&'a str, &'a str)>,
    error: Option<String>,
}

impl TestResult<'_> {
    fn annotations_of<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.annotations.iter().filter(move |(k, _)| *k == kind).map(|(_, d)| *d)
    }
}

/// Every test in the report, depth first, in the report's order.
fn collect(report: &Value) -> Vec<TestResult<'_>> {
    fn walk<'a>(suite: &'a Value, titles: &mut Vec<&'a str>, out: &mut Vec<TestResult<'a>>) {
        let title = suite.get("title").and_then(Value::as_str).unwrap_or("");
        titles.push(title);
        for spec in suite.get("specs").and_then(Value::as_array).into_iter().flatten() {
            let spec_title = spec.get("title").and_then(Value::as_str).unwrap_or("");
            for test in spec.get("tests").and_then(Value::as_array).into_iter().flatten() {
                let str_of = |key| test.get(key).and_then(Value::as_str).unwrap_or("");
                let annotations = test
                    .get("annotations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let field = |key| a.get(key).and_then(Value::as_str).unwrap_or("");
                        (field("type"), field("description"))
                    })
                    .collect();
                let error = test
                    .get("results")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.get("error").and_then(|e| e.get("message")).and_then(Value::as_str))
                    .map(first_line)
                    .next_back();
                let mut path: Vec<&str> = titles.iter().copied().filter(|t| !t.is_empty()).collect();
                path.push(spec_title);
                out.push(TestResult {
                    project: str_of("projectName"),
                    title: path.join(" > "),
                    status: str_of("status"),
                    annotations,
                    error,
                });
            }
        }
        for child in suite.get("suites").and_then(Value::as_array).into_iter().flatten() {
            walk(child, titles, out);
        }
        titles.pop();
    }
    let mut out = Vec::new();
    for suite in report.get("suites").and_then(Value::as_array).into_iter().flatten() {
        walk(suite, &mut Vec::new(), &mut out);
    }
    out
}

/// The first line of an error message, without terminal colours.
fn first_line(message: &str) -> String {
    let mut plain = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An ANSI escape: ESC [ ... letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_owned()
}

impl Matrix {
    /// Builds the matrix of `rows` from a Playwright JSON report; its projects are the engines.
    pub fn from_report(rows: &[Row], report: &Value) -> Result<Matrix, MatrixError> {
        let projects = report
            .get("config")
            .and_then(|c| c.get("projects"))
            .and_then(Value::as_array)
            .ok_or(MatrixError::BadReport("no config.projects"))?;
        let date = report
            .get("stats")
            .and_then(|s| s.get("startTime"))
            .and_then(Value::as_str)
            .ok_or(MatrixError::BadReport("no stats.startTime"))?
            .to_owned();
        let tests = collect(report);
        for test in &tests {
            for id in test.annotations_of("matrix") {
                if !rows.iter().any(|r| r.id == id) {
                    return Err(MatrixError::UnknownRow { row: id.to_owned(), test: test.title.clone() });
                }
            }
        }
        let engines: Vec<Engine> = projects
            .iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            // Projects left out of the run (`--project`) are not columns.
            .filter(|name| tests.iter().any(|t| t.project == *name))
            .map(|name| {
                let ran = tests.iter().filter(|t| t.project == name);
                let version = ran.clone().find_map(|t| t.annotations_of("engine").next()).map(str::to_owned);
                let unavailable = if version.is_some() {
                    None
                } else {
                    ran.flat_map(|t| t.annotations_of("skip").collect::<Vec<_>>())
                        .find(|reason| reason.starts_with("not available"))
                        .map(str::to_owned)
                };
                Engine { name: name.to_owned(), version, unavailable }
            })
            .collect();
        let lines = rows
            .iter()
            .map(|row| Line {
                row: row.clone(),
                cells: engines.iter().map(|engine| cell(&tests, &engine.name, &row.id)).collect(),
            })
            .collect();
        Ok(Matrix { date, machine: None, engines, lines })
    }

    /// The cells that mean something is wrong (failed or not run) in the engines named.
    pub fn failures(&self, required: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for line in &self.lines {
            for (engine, cell) in self.engines.iter().zip(&line.cells) {
                if required.contains(&engine.name.as_str()) && cell.status.is_failure() {
                    let note = cell.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
                    out.push(format!("{} in {}: {}{note}", line.row.title, engine.name, cell.status.label()));
                }
            }
        }
        for name in required {
            if !self.engines.iter().any(|e| e.name == *name && e.version.is_some()) {
                out.push(format!("{name}: the browser did not start"));
            }
        }
        out
    }

    /// What the matrix says, without its figures: the engine versions and every cell's status.
    /// `COMPAT.md` is rewritten only when this changes.
    pub fn signature(&self) -> String {
        let mut out = String::new();
        for engine in &self.engines {
            let _ = write!(out, "{}={};", engine.name, engine.version.as_deref().unwrap_or("-"));
        }
        for line in &self.lines {
            let statuses: Vec<&str> = line.cells.iter().map(|c| c.status.label()).collect();
            let _ = write!(out, " {}={}", line.row.id, statuses.join(","));
        }
        out
    }

    fn engine_label(engine: &Engine) -> String {
        match (&engine.version, &engine.unavailable) {
            (Some(version), _) => version.clone(),
            (None, Some(why)) => why.clone(),
            (None, None) => "did not start".to_owned(),
        }
    }

    /// The matrix as a Markdown document (`COMPAT.md`, `matrix.md`).
    pub fn to_markdown(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut md = String::new();
        let _ = writeln!(md, "# Sluice compatibility matrix\n");
        let _ = writeln!(
            md,
            "Run on {}{} by `cargo xtask compat` (also part of `cargo xtask test`). Each cell: pass, fail, \
             n.a. (does not apply to that engine, with the reason) or not available (the engine is not on \
             the machine), and the figures measured in that run.\n",
            self.date,
            self.machine.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        );
        let names: Vec<&str> = self.engines.iter().map(|e| e.name.as_str()).collect();
        let _ = writeln!(md, "| feature | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(names.len()));
        let versions: Vec<String> = self.engines.iter().map(|e| escape(&Self::engine_label(e))).collect();
        let _ = writeln!(md, "| *browser* | {} |", versions.join(" | "));
        for line in &self.lines {
            let cells: Vec<String> = line
                .cells
                .iter()
                .zip(&self.engines)
                .map(|(cell, engine)| {
                    let mark = match cell.status {
                        Status::Pass => "✅ pass",
                        Status::Fail => "❌ **fail**",
                        Status::NotApplicable => "➖ n.a.",
                        Status::NotAvailable => "⚪ not available",
                        Status::NotRun => "❌ **not run**",
                    };
                    let mut text = mark.to_owned();
                    for figure in &cell.figures {
                        let _ = write!(text, "<br>{}", escape(figure));
                    }
                    // Unavailable engines give their reason once, in the browser line.
                    if let (Some(note), true) = (&cell.note, engine.unavailable.is_none()) {
                        let _ = write!(text, "<br>*{}*", escape(note));
                    }
                    text
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", escape(&line.row.title), cells.join(" | "));
        }
        let _ = writeln!(md, "\n<!-- signature: {} -->", self.signature());
        md
    }

    /// The matrix as a static HTML page; `screenshots` are (engine, file name beside the page).
    pub fn to_html(&self, screenshots: &[(String, String)]) -> String {
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let mut html = String::from(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Sluice compatibility matrix</title>\n<style>\n\
             body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }\n\
             table { border-collapse: collapse; }\n\
             th, td { border: 1px solid #ccc; padding: .3rem .6rem; vertical-align: top; text-align: left; }\n\
             td.pass { background: #e3f6e5; } td.fail, td.not-run { background: #fbdada; font-weight: bold; }\n\
             td.na { background: #f1f1f1; color: #555; } td.not-available { background: #f7f7f7; color: #888; }\n\
             small { display: block; font-weight: normal; color: #444; }\n\
             figure { display: inline-block; margin: 0 1rem 1rem 0; } img { width: 360px; border: 1px solid #ccc; }\n\
             </style>\n</head>\n<body>\n<h1>Sluice compatibility matrix</h1>\n",
        );
        let _ = writeln!(html, "<p>Run on {} by <code>cargo xtask compat</code>.</p>", escape(&self.date));
        let _ = write!(html, "<table>\n<tr><th>feature</th>");
        for engine in &self.engines {
            let _ =
                write!(html, "<th>{}<small>{}</small></th>", escape(&engine.name), escape(&Self::engine_label(engine)));
        }
        let _ = writeln!(html, "</tr>");
        for line in &self.lines {
            let _ = write!(html, "<tr><th>{}</th>", escape(&line.row.title));
            for cell in &line.cells {
                let class = match cell.status {
                    Status::Pass => "pass",
                    Status::Fail => "fail",
                    Status::NotApplicable => "na",
                    Status::NotAvailable => "not-available",
                    Status::NotRun => "not-run",
                };
                let _ = write!(html, "<td class=\"{class}\">{}", cell.status.label());
                for text in cell.figures.iter().chain(&cell.note) {
                    let _ = write!(html, "<small>{}</small>", escape(text));
                }
                let _ = write!(html, "</td>");
            }
            let _ = writeln!(html, "</tr>");
        }
        let _ = writeln!(html, "</table>\n<h2>The demo page in each browser</h2>");
        if screenshots.is_empty() {
            let _ = writeln!(html, "<p>No screenshots in this run.</p>");
        }
        for (engine, file) in screenshots {
            let (engine, file) = (escape(engine), escape(file));
            let _ = writeln!(
                html,
                "<figure><a href=\"{file}\"><img src=\"{file}\" alt=\"the demo page in {engine}\"></a>\
                 <figcaption>{engine}</figcaption></figure>"
            );
        }
        html.push_str("</body>\n</html>\n");
        html
    }
}

/// The cell of `row` in `project`.
fn cell(tests: &[TestResult<'_>], project: &str, row: &str) -> Cell {
    let of_row: Vec<&TestResult<'_>> =
        tests.iter().filter(|t| t.project == project && t.annotations_of("matrix").any(|id| id == row)).collect();
    let prefix = format!("{row}: ");
    let figures = tests
        .iter()
        .filter(|t| t.project == project)
        .flat_map(|t| t.annotations_of("figure").filter_map(|f| f.strip_prefix(&prefix)).map(str::to_owned))
        .collect();
    let failed = of_row.iter().find(|t| !matches!(t.status, "expected" | "skipped"));
    let (status, note) = if let Some(test) = failed {
        let why = test.error.clone().unwrap_or_else(|| format!("status {}", test.status));
        (Status::Fail, Some(format!("{}: {why}", test.title)))
    } else if of_row.iter().any(|t| t.status == "expected") {
        (Status::Pass, None)
    } else if let Some(test) = of_row.first() {
        let reason = test.annotations_of("skip").next().unwrap_or("skipped").to_owned();
        let status = if reason.starts_with("not available") { Status::NotAvailable } else { Status::NotApplicable };
        (status, Some(reason.strip_prefix("not applicable: ").unwrap_or(&reason).to_owned()))
    } else {
        (Status::NotRun, None)
    };
    Cell { status, figures, note }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Row> {
        ["a", "b", "c", "d"].iter().map(|id| Row { id: (*id).into(), title: format!("feature {id}") }).collect()
    }

    fn test(project: &str, status: &str, annotations: Value, error: Option<&str>) -> Value {
        let results = match error {
            Some(message) => json!([{ "status": "failed", "error": { "message": message } }]),
            None => json!([{ "status": status }]),
        };
        json!({ "projectName": project, "status": status, "annotations": annotations, "results": results })
    }

    fn report(tests: Vec<Value>) -> Value {
        json!({
            "config": { "projects": [{ "name": "chromium" }, { "name": "safari" }] },
            "stats": { "startTime": "2026-11-22T10:00:00.000Z" },
            "suites": [{ "title": "x.spec.ts", "specs": [{ "title": "a test", "tests": tests }] }],
        })
    }

    fn engine(version: &str) -> Value {
        json!({ "type": "engine", "description": version })
    }

    #[test]
    fn cells_follow_the_tests_of_their_row() {
        let report = report(vec![
            test(
                "chromium",
                "expected",
                json!([{ "type": "matrix", "description": "a" }, engine("Chromium 156"), { "type": "figure", "description": "a: 512 MB/s" }]),
                None,
            ),
            test(
                "chromium",
                "unexpected",
                json!([{ "type": "matrix", "description": "b" }, engine("Chromium 156")]),
                Some("\u{1b}[31mError: expected 1\u{1b}[39m\n  at x"),
            ),
            test(
                "chromium",
                "skipped",
                json!([{ "type": "matrix", "description": "c" }, engine("Chromium 156"), { "type": "skip", "description": "not applicable: the probe picked transfer" }]),
                None,
            ),
            test(
                "safari",
                "skipped",
                json!([{ "type": "matrix", "description": "a" }, { "type": "skip", "description": "not available: macOS only" }]),
                None,
            ),
        ]);
        let matrix = Matrix::from_report(&rows(), &report).expect("a matrix");
        assert_eq!(matrix.engines[0].version.as_deref(), Some("Chromium 156"));
        assert_eq!(matrix.engines[1].unavailable.as_deref(), Some("not available: macOS only"));
        let statuses: Vec<Vec<Status>> =
            matrix.lines.iter().map(|l| l.cells.iter().map(|c| c.status).collect()).collect();
        use Status::*;
        assert_eq!(
            statuses,
            [vec![Pass, NotAvailable], vec![Fail, NotRun], vec![NotApplicable, NotRun], vec![NotRun, NotRun]]
        );
        assert_eq!(matrix.lines[0].cells[0].figures, ["512 MB/s"]);
        assert_eq!(matrix.lines[1].cells[0].note.as_deref(), Some("x.spec.ts > a test: Error: expected 1"));
        assert_eq!(matrix.lines[2].cells[0].note.as_deref(), Some("the probe picked transfer"));
        let failures = matrix.failures(&["chromium"]);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("feature b in chromium: fail"));
        assert!(failures[1].starts_with("feature d in chromium: not run"));
        assert_eq!(matrix.failures(&["chromium", "firefox"]).len(), 3, "firefox did not start");
        assert_eq!(
            counts(&report),
            [
                ("chromium".to_owned(), Counts { passed: 1, failed: 1, skipped: 1 }),
                ("safari".to_owned(), Counts { passed: 0, failed: 0, skipped: 1 })
            ]
        );
    }

    #[test]
    fn one_failing_test_fails_a_row_that_others_passed() {
        let a = json!([{ "type": "matrix", "description": "a" }]);
        let report = report(vec![
            test("chromium", "expected", a.clone(), None),
            test("chromium", "unexpected", a, Some("boom")),
        ]);
        let matrix = Matrix::from_report(&rows(), &report).expect("a matrix");
        assert_eq!(matrix.lines[0].cells[0].status, Status::Fail);
    }

    #[test]
    fn an_unknown_row_is_an_error() {
        let report =
            report(vec![test("chromium", "expected", json!([{ "type": "matrix", "description": "zzz" }]), None)]);
        assert!(
            matches!(Matrix::from_report(&rows(), &report), Err(MatrixError::UnknownRow { row, .. }) if row == "zzz")
        );
        assert!(matches!(Matrix::from_report(&rows(), &json!({})), Err(MatrixError::BadReport(_))));
    }

    #[test]
    fn the_signature_ignores_figures_but_not_statuses() {
        let with = |figure: &str, status: &str| {
            let annotations = json!([{ "type": "matrix", "description": "a" }, engine("Chromium 156"), { "type": "figure", "description": figure }]);
            Matrix::from_report(&rows(), &report(vec![test("chromium", status, annotations, None)])).expect("a matrix")
        };
        let base = with("a: 1 MB/s", "expected");
        assert_eq!(base.signature(), with("a: 2 MB/s", "expected").signature());
        assert_ne!(base.signature(), with("a: 1 MB/s", "unexpected").signature());
        let md = base.to_markdown();
        assert!(md.contains("| feature a | ✅ pass<br>1 MB/s |\n"), "{md}");
        assert_eq!(base.engines.len(), 1, "safari ran no test here: not a column");
        assert!(base
            .to_html(&[("chromium".into(), "demo-chromium.png".into())])
            .contains("<img src=\"demo-chromium.png\""));
    }
}
