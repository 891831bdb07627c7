//! Short import and export names for `dist/`'s module: wasm-bindgen names each of the ~180
//! imports `__wbg_<name>_<16 hex digits>` (and each closure's export
//! `wasm_bindgen__convert__closures_____invoke__<17 hex digits>`), and both glues spell every
//! name again, which gzip cannot shrink. Each import, its import module and each export but
//! `memory` become a short name, in the wasm and in each glue.

use std::path::Path;

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ExportSection, ImportSection, Module, RawSection};
use wasmparser::{Parser, Payload};

use crate::util::{read, write, Fail};

/// Renames the imports of `wasm` and their definitions in each of `glues` (the JS files that
/// instantiate it), in place. Fails, changing nothing, unless each glue defines every import
/// and the import module exactly once.
pub fn shorten(wasm: &Path, glues: &[&Path]) -> Result<(), Fail> {
    let bytes = read(wasm)?;
    let bad = |e: &dyn std::fmt::Display| Fail(format!("{}: {e}", wasm.display()));
    let mut module = Module::new();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut exports: Vec<(String, String)> = Vec::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        let payload = payload.map_err(|e| bad(&e))?;
        if let Payload::ImportSection(reader) = &payload {
            let mut section = ImportSection::new();
            for import in reader.clone().into_imports() {
                let import = import.map_err(|e| bad(&e))?;
                let ty = RoundtripReencoder.entity_type(import.ty).map_err(|e| bad(&e))?;
                let module_name = match renames.iter().find(|(old, _)| old == import.module) {
                    Some((_, new)) => new.clone(),
                    None => {
                        let new = short_name(renames.len());
                        renames.push((import.module.to_string(), new.clone()));
                        new
                    }
                };
                let name = short_name(renames.len());
                renames.push((import.name.to_string(), name.clone()));
                section.import(&module_name, &name, ty);
            }
            module.section(&section);
        } else if let Payload::ExportSection(reader) = &payload {
            let mut section = ExportSection::new();
            for export in reader.clone() {
                let export = export.map_err(|e| bad(&e))?;
                let kind = RoundtripReencoder.export_kind(export.kind).map_err(|e| bad(&e))?;
                // `memory` keeps its name: it is the page's to read (`init()` returns the exports).
                let name = match export.name {
                    "memory" => export.name.to_string(),
                    old => {
                        let new = short_name(exports.len());
                        exports.push((old.to_string(), new.clone()));
                        new
                    }
                };
                section.export(&name, kind, export.index);
            }
            module.section(&section);
        } else if let Some((id, range)) = payload.as_section() {
            module.section(&RawSection { id, data: &bytes[range] });
        }
    }
    let mut scripts = Vec::new();
    for glue in glues {
        let text = String::from_utf8(read(glue)?).map_err(|e| Fail(format!("{}: {e}", glue.display())))?;
        let text = rename_all(&text, &renames).and_then(|text| rename_exports(&text, &exports));
        scripts.push(text.map_err(|e| Fail(format!("{}: {e}", glue.display())))?);
    }
    write(wasm, module.finish())?;
    for (glue, script) in glues.iter().zip(scripts) {
        write(glue, script)?;
    }
    Ok(())
}

/// The `n`th short name: `a` … `z`, `A` … `Z`, then two letters, and so on.
fn short_name(mut n: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = String::new();
    loop {
        name.push(LETTERS[n % LETTERS.len()] as char);
        n /= LETTERS.len();
        if n == 0 {
            return name;
        }
        n -= 1;
    }
}

/// `text` with each old name replaced by its new one, where the old name stands alone (as an
/// identifier, or as the quoted module name); each must occur exactly once.
fn rename_all(text: &str, renames: &[(String, String)]) -> Result<String, String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = text.to_string();
    for (old, new) in renames {
        let quoted = old.chars().any(|c| !ident(c));
        let (old, new) = match quoted {
            true => (format!("\"{old}\""), format!("\"{new}\"")),
            false => (old.clone(), new.clone()),
        };
        let alone = |at: usize| {
            let before = out[..at].chars().next_back().is_none_or(|c| !ident(c));
            let after = out[at + old.len()..].chars().next().is_none_or(|c| !ident(c));
            quoted || (before && after)
        };
        let found: Vec<usize> = out.match_indices(&old).map(|(at, _)| at).filter(|&at| alone(at)).collect();
        match found[..] {
            [at] => out.replace_range(at..at + old.len(), &new),
            _ => return Err(format!("expected `{old}` once, found it {} times", found.len())),
        }
    }
    Ok(out)
}

/// `text` with each `wasm.<old>` (the glue's use of an export) made `wasm.<new>` (a JavaScript
/// function of the same name, e.g. `contentDisposition`, keeps its name); fails where the glue
/// reaches the exports some other way (`wasm[...]`, `instance.exports`), which would miss.
fn rename_exports(text: &str, renames: &[(String, String)]) -> Result<String, String> {
    if text.contains("wasm[") || text.contains(".exports.") {
        return Err("the glue reaches the wasm's exports other than as `wasm.<name>`".into());
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = text.to_string();
    for (old, new) in renames {
        let alone = |out: &str, at: usize| {
            out[..at].chars().next_back().is_none_or(|c| !ident(c))
                && out[at + old.len()..].chars().next().is_none_or(|c| !ident(c))
        };
        let uses: Vec<usize> = out
            .match_indices(old.as_str())
            .map(|(at, _)| at)
            .filter(|&at| alone(&out, at) && out[..at].ends_with("wasm."))
            .collect();
        for &at in uses.iter().rev() {
            out.replace_range(at..at + old.len(), new);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_distinct() {
        let names: Vec<String> = (0..3000).map(short_name).collect();
        assert_eq!((names[0].as_str(), names[51].as_str(), names[52].as_str()), ("a", "Z", "aa"));
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn renames_whole_identifiers_once() {
        let renames = [("./m.js".to_string(), "a".to_string()), ("__wbg_f_1".to_string(), "b".to_string())];
        let glue = r#"{__wbg_f_1:function(){},x__wbg_f_1_2:0};return{"./m.js":n}"#;
        assert_eq!(rename_all(glue, &renames).unwrap(), r#"{b:function(){},x__wbg_f_1_2:0};return{"a":n}"#);
        assert!(rename_all("{}", &renames).is_err());
        assert!(rename_all(r#"{"./m.js":1,__wbg_f_1:1,__wbg_f_1:2}"#, &renames).is_err());
    }

    #[test]
    fn renames_each_use_of_an_export() {
        let renames = [("sluice_close".to_string(), "a".to_string())];
        let glue = "wasm.sluice_close(1); wasm.sluice_close_all(); wasm.sluice_close(2)";
        assert_eq!(rename_exports(glue, &renames).unwrap(), "wasm.a(1); wasm.sluice_close_all(); wasm.a(2)");
        assert_eq!(rename_exports("function sluice_close() {}", &renames).unwrap(), "function sluice_close() {}");
        assert!(rename_exports("instance.exports.sluice_close()", &renames).is_err());
    }
}
