//! The zip writer against a reference reader (the `zip` crate) and a strict walk of every
//! record: random entries, hostile names, declared and undeclared sizes, stored and deflated.

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use sluice_core::zip::{archive_size, safe_name, Entry, Method, ZipError, ZipWriter};

#[derive(Debug, Clone)]
struct Spec {
    name: String,
    data: Vec<u8>,
    declare_size: bool,
    deflate: bool,
    modified: i64,
}

fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// The archive of `specs`, its data written in pieces of `piece` bytes; with `declared`, the
/// entries are declared up front.
fn build(specs: &[Spec], declared: bool, piece: usize) -> Result<Vec<u8>, ZipError> {
    let list = declared.then(|| specs.iter().map(|s| (s.name.clone(), s.data.len() as u64)).collect());
    let mut writer = ZipWriter::new(list)?;
    let mut out = Vec::new();
    for s in specs {
        let method = if s.deflate { Method::Deflated } else { Method::Stored };
        let size = s.declare_size.then_some(s.data.len() as u64);
        out.extend(writer.start_entry(Entry { name: s.name.clone(), size, modified: s.modified, method })?);
        if s.deflate {
            for p in s.data.chunks(piece.max(1)) {
                writer.data(p)?;
            }
            let compressed = deflate_raw(&s.data);
            writer.compressed(compressed.len() as u64)?;
            out.extend(compressed);
        } else {
            for p in s.data.chunks(piece.max(1)) {
                writer.data(p)?;
                out.extend_from_slice(p);
            }
        }
        out.extend(writer.end_entry()?);
        assert_eq!(writer.written(), out.len() as u64, "written() counts every byte so far");
    }
    out.extend(writer.finish()?);
    assert_eq!(writer.written(), out.len() as u64);
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The extra fields of a header: (tag, data).
fn extras(b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let (tag, len) = (u16_at(b, at), u16_at(b, at + 2) as usize);
        out.push((tag, &b[at + 4..at + 4 + len]));
        at += 4 + len;
    }
    assert_eq!(at, b.len(), "extra fields end where the header says");
    out
}

/// One central directory entry as the strict walk reads it.
#[derive(Debug)]
struct Central {
    flags: u16,
    needed: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    name: Vec<u8>,
}

/// Walks every record of `zip` as the strictest readers do; panics on anything they refuse.
/// Returns the number of entries.
fn walk(zip: &[u8]) -> u64 {
    // The end records.
    let end = zip.len() - 22;
    assert_eq!(u32_at(zip, end), 0x0605_4b50, "the end record closes the archive");
    let (mut count, mut cd_size, mut cd_offset) =
        (u64::from(u16_at(zip, end + 10)), u64::from(u32_at(zip, end + 12)), u64::from(u32_at(zip, end + 16)));
    let zip64_end = end >= 20 && u32_at(zip, end - 20) == 0x0706_4b50;
    if zip64_end {
        let record = u64_at(zip, end - 20 + 8) as usize;
        assert_eq!(record, end - 20 - 56, "the locator points at the ZIP64 end record");
        assert_eq!(u32_at(zip, record), 0x0606_4b50);
        assert_eq!(u64_at(zip, record + 24), u64_at(zip, record + 32));
        count = u64_at(zip, record + 32);
        cd_size = u64_at(zip, record + 40);
        cd_offset = u64_at(zip, record + 48);
        assert_eq!(cd_offset + cd_size, record as u64, "the central directory ends where the ZIP64 end begins");
    } else {
        assert_eq!(cd_offset + cd_size, end as u64);
        assert!(count < 0xFFFF, "65,535 entries or more need the ZIP64 end records");
    }
    // The central directory.
    let mut centrals = Vec::new();
    let mut at = cd_offset as usize;
    for _ in 0..count {
        assert_eq!(u32_at(zip, at), 0x0201_4b50, "a central header at {at}");
        let (n, m, k) = (u16_at(zip, at + 28) as usize, u16_at(zip, at + 30) as usize, u16_at(zip, at + 32) as usize);
        assert!(m > 0, "every central header has an extra field");
        let mut c = Central {
            flags: u16_at(zip, at + 8),
            needed: u16_at(zip, at + 6),
            crc: u32_at(zip, at + 16),
            compressed: u64::from(u32_at(zip, at + 20)),
            size: u64::from(u32_at(zip, at + 24)),
            offset: u64::from(u32_at(zip, at + 42)),
            name: zip[at + 46..at + 46 + n].to_vec(),
        };
        for (tag, data) in extras(&zip[at + 46 + n..at + 46 + n + m]) {
            if tag == 0x0001 {
                // In order, only the fields whose 32-bit value is the sentinel.
                let mut f = 0;
                for field in [&mut c.size, &mut c.compressed, &mut c.offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(data, f);
                        f += 8;
                    }
                }
                assert_eq!(f, data.len(), "the central ZIP64 extra holds exactly the sentinel fields");
                assert_eq!(c.needed, 45, "a ZIP64 entry needs version 4.5");
            }
        }
        at += 46 + n + m + k;
        centrals.push(c);
    }
    assert_eq!(at as u64, cd_offset + cd_size);
    // The local headers, data and descriptors, back to back.
    let mut at = 0usize;
    for c in &centrals {
        assert_eq!(at as u64, c.offset, "entries are back to back, where the central directory says");
        assert_eq!(u32_at(zip, at), 0x0403_4b50);
        assert_eq!(u16_at(zip, at + 4), c.needed, "the same version needed in both headers");
        assert_eq!(u16_at(zip, at + 6), c.flags, "the same flags in both headers");
        assert_eq!(c.flags & 0x0808, 0x0808, "a descriptor and a UTF-8 name");
        let (n, m) = (u16_at(zip, at + 26) as usize, u16_at(zip, at + 28) as usize);
        assert_eq!(&zip[at + 30..at + 30 + n], &c.name[..], "the same name in both headers");
        assert!(m > 0, "every local header has an extra field");
        let local_zip64: Vec<_> =
            extras(&zip[at + 30 + n..at + 30 + n + m]).into_iter().filter(|(t, _)| *t == 1).collect();
        let zip64 = !local_zip64.is_empty();
        if zip64 {
            assert_eq!(local_zip64[0].1, &[0u8; 16][..], "the local ZIP64 extra: both sizes, 0");
            assert_eq!((u32_at(zip, at + 18), u32_at(zip, at + 22)), (0xFFFF_FFFF, 0xFFFF_FFFF));
        } else {
            assert_eq!((u32_at(zip, at + 14), u32_at(zip, at + 18), u32_at(zip, at + 22)), (0, 0, 0));
        }
        let d = at + 30 + n + m + c.compressed as usize;
        assert_eq!(u32_at(zip, d), 0x0807_4b50, "the descriptor follows the data");
        assert_eq!(u32_at(zip, d + 4), c.crc);
        // The descriptor is 64-bit exactly when the local header has the ZIP64 extra.
        if zip64 {
            assert_eq!((u64_at(zip, d + 8), u64_at(zip, d + 16)), (c.compressed, c.size));
            at = d + 24;
        } else {
            assert_eq!((u64::from(u32_at(zip, d + 8)), u64::from(u32_at(zip, d + 12))), (c.compressed, c.size));
            at = d + 16;
        }
    }
    assert_eq!(at as u64, cd_offset, "the central directory follows the last entry");
    count
}

/// Every entry's name and bytes, through the reference reader (which checks each CRC-32).
fn read(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).expect("the zip crate reads it");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("an entry");
            let name = file.name().expect("a UTF-8 name").into_owned();
            assert!(file.enclosed_name().is_some(), "{name:?} stays inside the target folder");
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).expect("its bytes, with the right CRC-32");
            (name, bytes)
        })
        .collect()
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}(/[a-z]{1,8}){0,2}\\.(txt|bin)",
        "(\\.\\./|/|C:\\\\|\\./)?[a-zé€😀 ]{1,6}([/\\\\][a-z.]{0,4}){0,3}",
        "\\PC{1,12}",
    ]
}

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (
            name(),
            prop::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
            prop::bool::weighted(0.3),
            -1i64 << 33..1i64 << 33,
        ),
        0..12,
    )
    .prop_map(|entries| {
        // Unique once made safe, and no path both a file and a folder (each is its own test).
        let mut seen = BTreeSet::<String>::new();
        // (ASCII letters' case aside).
        let usable = |seen: &BTreeSet<String>, safe: &str| {
            let folder_of = |a: &str, b: &str| b.starts_with(a) && b[a.len()..].starts_with('/');
            seen.iter().all(|other| other != safe && !folder_of(other, safe) && !folder_of(safe, other))
        };
        entries
            .into_iter()
            .filter(|(name, ..)| {
                safe_name(name).is_ok_and(|safe| {
                    let key = safe.to_ascii_lowercase();
                    usable(&seen, &key) && seen.insert(key)
                })
            })
            .map(|(name, data, declare_size, deflate, modified)| Spec { name, data, declare_size, deflate, modified })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_archive_reads_back_and_walks_strictly(specs in specs(), piece in 1usize..64) {
        let zip = build(&specs, false, piece).expect("a valid archive");
        prop_assert_eq!(walk(&zip), specs.len() as u64);
        let entries = read(&zip);
        prop_assert_eq!(entries.len(), specs.len());
        for ((name, bytes), spec) in entries.iter().zip(&specs) {
            prop_assert_eq!(name, &safe_name(&spec.name).expect("safe"));
            prop_assert_eq!(bytes, &spec.data);
        }
    }

    #[test]
    fn declared_stored_archives_are_exactly_the_predicted_size(specs in specs(), piece in 1usize..64) {
        let specs: Vec<Spec> = specs.into_iter().map(|s| Spec { deflate: false, declare_size: true, ..s }).collect();
        let zip = build(&specs, true, piece).expect("a valid archive");
        let predicted = archive_size(specs.iter().map(|s| (s.name.as_str(), s.data.len() as u64)));
        prop_assert_eq!(predicted, Ok(zip.len() as u64));
        prop_assert_eq!(read(&zip).len(), specs.len());
    }

    #[test]
    fn a_size_other_than_declared_fails(specs in specs(), extra in 1usize..5, short in any::<bool>()) {
        let mut specs: Vec<Spec> = specs.into_iter().filter(|s| !s.data.is_empty() || !short).map(|s| Spec { deflate: false, declare_size: true, ..s }).collect();
        prop_assume!(!specs.is_empty());
        let last = specs.len() - 1;
        let declared = specs[last].data.len() as u64;
        let mut writer = ZipWriter::new(None).expect("a writer");
        for s in &specs[..last] {
            writer.start_entry(Entry { name: s.name.clone(), size: Some(s.data.len() as u64), modified: 0, method: Method::Stored }).expect("header");
            writer.data(&s.data).expect("data");
            writer.end_entry().expect("descriptor");
        }
        let s = &mut specs[last];
        writer.start_entry(Entry { name: s.name.clone(), size: Some(declared), modified: 0, method: Method::Stored }).expect("header");
        if short {
            s.data.pop();
            writer.data(&s.data).expect("fewer bytes are taken");
            let ended = writer.end_entry();
            prop_assert!(matches!(ended, Err(ZipError::SizeMismatch { .. })), "{:?}", ended);
        } else {
            s.data.extend(std::iter::repeat_n(7, extra));
            let taken = writer.data(&s.data);
            prop_assert!(matches!(taken, Err(ZipError::SizeMismatch { .. })), "{:?}", taken);
        }
        // The archive cannot be whole: nothing more is taken, and it never ends as if complete.
        prop_assert!(matches!(writer.end_entry(), Err(ZipError::Order(_))));
        prop_assert!(matches!(writer.finish(), Err(ZipError::Order(_))));
    }
}

#[test]
fn an_entry_of_unknown_size_is_zip64_and_reads_back() {
    let specs =
        [Spec { name: "stream.bin".into(), data: vec![1, 2, 3], declare_size: false, deflate: false, modified: 0 }];
    let zip = build(&specs, false, 2).expect("an archive");
    walk(&zip);
    // Local header: ZIP64 extra (20) + timestamp (9).
    assert_eq!(u16_at(&zip, 28), 29);
    assert_eq!(read(&zip), vec![("stream.bin".to_owned(), vec![1, 2, 3])]);
}

#[test]
fn seventy_thousand_entries_get_the_zip64_end_records() {
    let specs: Vec<Spec> = (0..70_000)
        .map(|i| Spec {
            name: format!("f{i}.txt"),
            data: vec![i as u8],
            declare_size: true,
            deflate: false,
            modified: 1_700_000_000,
        })
        .collect();
    let zip = build(&specs, true, 1).expect("an archive");
    assert_eq!(walk(&zip), 70_000);
    assert_eq!(archive_size(specs.iter().map(|s| (s.name.as_str(), 1))), Ok(zip.len() as u64));
    let archive = zip::ZipArchive::new(Cursor::new(&zip[..])).expect("read");
    assert_eq!(archive.len(), 70_000);
}

#[test]
fn duplicates_order_and_missing_entries_are_errors() {
    let entry = |name: &str, size| Entry { name: name.into(), size: Some(size), modified: 0, method: Method::Stored };
    let mut writer = ZipWriter::new(None).expect("a writer");
    writer.start_entry(entry("a/b.txt", 0)).expect("first");
    writer.end_entry().expect("ended");
    assert_eq!(writer.start_entry(entry("/a\\b.txt", 0)), Err(ZipError::Duplicate("a/b.txt".into())));
    assert!(matches!(writer.data(b"x"), Err(ZipError::Order(_))));

    assert!(matches!(ZipWriter::new(Some(vec![("x".into(), 1), ("./x".into(), 2)])), Err(ZipError::Duplicate(_))));
    assert!(matches!(archive_size([("x", 1), ("x", 1)]), Err(ZipError::Duplicate(_))));

    // No path is both a file and a folder, whichever comes first; a refused entry claims nothing.
    let conflict = |name: &str, folder: &str| Err(ZipError::Conflict { name: name.into(), folder: folder.into() });
    let mut writer = ZipWriter::new(None).expect("a writer");
    writer.start_entry(entry("a/b", 0)).expect("a file a/b");
    writer.end_entry().expect("ended");
    assert_eq!(writer.start_entry(entry("a\\b\\c.txt", 0)), conflict("a/b/c.txt", "a/b"));
    assert_eq!(writer.start_entry(entry("a/b/c/d", 0)), conflict("a/b/c/d", "a/b"));
    assert_eq!(writer.start_entry(entry("a", 0)), conflict("a", "a"), "a is a folder of a/b");
    writer.start_entry(entry("a/bc", 0)).expect("a sibling whose name starts the same");
    writer.end_entry().expect("ended");
    writer.start_entry(entry("x/y/z", 0)).expect("x/y/z");
    writer.end_entry().expect("ended");
    assert_eq!(writer.start_entry(entry("x/y", 0)), conflict("x/y", "x/y"));
    assert!(matches!(archive_size([("d/e", 1), ("d", 1)]), Err(ZipError::Conflict { .. })));

    // ASCII letters' case aside (one file on Windows and macOS); other letters are kept apart.
    assert_eq!(writer.start_entry(entry("A/B", 0)), Err(ZipError::Duplicate("A/B".into())));
    assert_eq!(writer.start_entry(entry("X/Y/Z", 0)), Err(ZipError::Duplicate("X/Y/Z".into())));
    assert_eq!(writer.start_entry(entry("A/B/c.txt", 0)), conflict("A/B/c.txt", "A/B"));
    assert_eq!(writer.start_entry(entry("A", 0)), conflict("A", "A"));
    writer.start_entry(entry("a/É", 0)).expect("É");
    writer.end_entry().expect("ended");
    writer.start_entry(entry("a/é", 0)).expect("é is not folded");
    writer.end_entry().expect("ended");
    assert!(matches!(archive_size([("Readme", 1), ("README", 1)]), Err(ZipError::Duplicate(_))));

    let mut writer = ZipWriter::new(Some(vec![("a".into(), 1), ("b".into(), 2)])).expect("a writer");
    assert!(matches!(writer.start_entry(entry("b", 2)), Err(ZipError::NotDeclared { index: 0, .. })));
    assert!(matches!(writer.start_entry(entry("a", 2)), Err(ZipError::NotDeclared { .. })), "the size is declared too");
    writer.start_entry(entry("a", 1)).expect("as declared");
    writer.data(b"1").expect("data");
    writer.end_entry().expect("ended");
    assert_eq!(writer.finish(), Err(ZipError::MissingEntries { added: 1, declared: 2 }));
    let deflated = Entry { method: Method::Deflated, ..entry("b", 2) };
    assert!(matches!(writer.start_entry(deflated), Err(ZipError::NotDeclared { .. })), "declared entries are stored");

    // An entry of unknown size takes the declared one, and its data must be that long.
    let mut writer = ZipWriter::new(Some(vec![("a".into(), 2)])).expect("a writer");
    writer.start_entry(Entry { size: None, ..entry("a", 0) }).expect("the declared size");
    writer.data(b"1").expect("data");
    assert!(matches!(writer.end_entry(), Err(ZipError::SizeMismatch { declared: 2, written: 1, .. })));
}

/// Writes sample archives to `$SLUICE_ZIP_OUT` for the external readers (`unzip -t`,
/// `python3 -m zipfile -t`, `7z t`, `bsdtar -tf`): run by hand with `--ignored`.
#[test]
#[ignore = "writes files for external readers; run by hand"]
fn samples_for_external_readers() {
    let dir = std::path::PathBuf::from(std::env::var("SLUICE_ZIP_OUT").expect("SLUICE_ZIP_OUT"));
    let hostile = ["../../etc/passwd", "C:\\x", "a/../../b", "/abs", "n\0ul", "ünï/cødé 😀.txt", "CON", "a/U:b"];
    let mixed: Vec<Spec> = hostile
        .iter()
        .enumerate()
        .map(|(i, name)| Spec {
            name: (*name).into(),
            data: vec![i as u8; 1000 * i],
            declare_size: i % 2 == 0,
            deflate: i % 3 == 0,
            modified: 1_700_000_000,
        })
        .collect();
    std::fs::write(dir.join("mixed.zip"), build(&mixed, false, 100).expect("mixed")).expect("write");
    let many: Vec<Spec> = (0..70_000)
        .map(|i| Spec {
            name: format!("f{i}.txt"),
            data: vec![b'a'; i % 3],
            declare_size: true,
            deflate: false,
            modified: 1_700_000_000,
        })
        .collect();
    std::fs::write(dir.join("many.zip"), build(&many, true, 1).expect("many")).expect("write");
}

/// Writes `big.zip` to `$SLUICE_ZIP_OUT`: a 4.5 GiB entry of zeros (declared), then a small
/// entry past 4 GiB (ZIP64 by its offset), then one of unknown size: for the external readers.
#[test]
#[ignore = "writes 4.5 GiB for external readers; run by hand (--release)"]
fn a_big_sample_for_external_readers() {
    let dir = std::path::PathBuf::from(std::env::var("SLUICE_ZIP_OUT").expect("SLUICE_ZIP_OUT"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("big.zip")).expect("create"));
    let big = 4608 * 1048576u64;
    let mut writer = ZipWriter::new(None).expect("writer");
    let entry = |name: &str, size| Entry { name: name.into(), size, modified: 1_700_000_000, method: Method::Stored };
    file.write_all(&writer.start_entry(entry("zeros.bin", Some(big))).expect("header")).expect("write");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..big >> 20 {
        writer.data(&zeros).expect("data");
        file.write_all(&zeros).expect("write");
    }
    file.write_all(&writer.end_entry().expect("descriptor")).expect("write");
    for (name, size) in [("after.txt", Some(5)), ("unknown.txt", None)] {
        file.write_all(&writer.start_entry(entry(name, size)).expect("header")).expect("write");
        writer.data(b"hello").expect("data");
        file.write_all(b"hello").expect("write");
        file.write_all(&writer.end_entry().expect("descriptor")).expect("write");
    }
    file.write_all(&writer.finish().expect("end")).expect("write");
    file.flush().expect("flush");
    let predicted = archive_size([("zeros.bin", big), ("after.txt", 5)]).expect("size");
    // The unknown-size entry is ZIP64 (20 + 8 more bytes locally, 28 in the central directory).
    let unknown = 30 + 11 + 9 + 20 + 5 + 24 + 46 + 11 + 9 + 28;
    assert_eq!(writer.written(), predicted + unknown);
}
