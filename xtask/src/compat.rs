//! The compatibility matrix: from the end-to-end run's report to `target/compat/matrix.{md,json,html}`
//! (with the demo screenshots), and to `COMPAT.md` when a clean run changes what it says.

use std::path::Path;

use sluice_compat_tests::{Matrix, Row};

use crate::util::{step, Fail};

/// Writes the matrix of `report`; returns its failed (or not run) cells in the `required` engines.
/// `COMPAT.md` is rewritten only from a run of every engine (`every_engine`).
pub fn write(
    root: &Path,
    report: &serde_json::Value,
    required: &[&str],
    every_engine: bool,
) -> Result<Vec<String>, Fail> {
    step("compatibility matrix -> target/compat/matrix.{md,json,html}");
    let rows_file = root.join("compat-tests/rows.json");
    let rows: Vec<Row> = std::fs::read_to_string(&rows_file)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        .map_err(|e| Fail(format!("cannot read {}: {e}", rows_file.display())))?;
    let mut matrix = Matrix::from_report(&rows, report).map_err(|e| Fail(e.to_string()))?;
    matrix.machine = machine();
    let dir = root.join("target/compat");
    std::fs::create_dir_all(&dir).map_err(|e| Fail(format!("cannot create {}: {e}", dir.display())))?;
    let screenshots: Vec<(String, String)> = matrix
        .engines
        .iter()
        .map(|e| (e.name.clone(), format!("demo-{}.png", e.name)))
        .filter(|(_, file)| dir.join(file).is_file())
        .collect();
    // Hand-written facts the matrix cannot show (what each download manager does), below it.
    let notes = std::fs::read_to_string(root.join("compat-tests/notes.md")).unwrap_or_default();
    let markdown = format!("{}\n{notes}", matrix.to_markdown());
    let json = serde_json::to_string_pretty(&matrix).map_err(|e| Fail(e.to_string()))?;
    for (file, text) in
        [("matrix.md", &markdown), ("matrix.json", &json), ("matrix.html", &matrix.to_html(&screenshots))]
    {
        std::fs::write(dir.join(file), text).map_err(|e| Fail(format!("cannot write {file}: {e}")))?;
    }
    println!("{markdown}");
    println!("    written to {} (screenshots: {})", dir.display(), screenshots.len());
    let failures = matrix.failures(required);
    let committed = root.join("COMPAT.md");
    if !failures.is_empty() {
        println!("    COMPAT.md left as it was: this run has failed cells");
    } else if !every_engine {
        println!("    COMPAT.md left as it was: only some engines ran (--project)");
    } else if std::fs::read_to_string(&committed)
        .is_ok_and(|old| old.contains(&matrix.signature()) && old.contains(&notes))
    {
        println!("    COMPAT.md unchanged (same engines, same results)");
    } else {
        std::fs::write(&committed, &markdown).map_err(|e| Fail(format!("cannot write COMPAT.md: {e}")))?;
        println!("    COMPAT.md updated: commit it");
    }
    Ok(failures)
}

/// "Debian GNU/Linux 12 (bookworm), x86_64" or the like.
fn machine() -> Option<String> {
    let os = std::fs::read_to_string("/etc/os-release").ok().and_then(|text| {
        text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|name| name.trim_matches('"').to_owned())
    });
    Some(format!("{}, {}", os.unwrap_or_else(|| std::env::consts::OS.to_owned()), std::env::consts::ARCH))
}
