//! Many files as one zip archive, streamed (APPNOTE 6.3.x), sans-IO: [`ZipWriter`] gives the
//! bytes of each record, and the caller passes each entry's data through itself (the writer
//! only counts it and takes its CRC-32), so no entry is ever held whole.
//!
//! The layout every reader accepts (unzip, Python's `zipfile`, 7-Zip, libarchive, macOS Archive
//! Utility): each entry has a data descriptor (general-purpose bit 3) and a UTF-8 name (bit 11).
//! An entry whose size is unknown or 0xFFFF_FFFF bytes or more (deflated: 2 GiB or more, as
//! deflate can grow data), or that starts at 0xFFFF_FFFF or past it, is a ZIP64 entry: its local
//! header has a ZIP64 extra field (sizes 0) exactly when its descriptor is 64-bit, and its central
//! header gives every size and the offset in a ZIP64 extra. 65,535 entries or more, or a central
//! directory whose size or offset reaches 0xFFFF_FFFF, get the ZIP64 end records. Every header
//! carries the 9-byte extended timestamp (some unzip builds carry a ZIP64 flag over to the next
//! entry that has no extra field at all).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::headers::is_bidi_control;

/// The paths an archive has: each entry's name, and each folder a name implies (with its
/// trailing `/`), so that no name comes twice and no path is both a file and a folder (no reader
/// could extract both). Kept with ASCII letters in lower case: `A.txt` and `a.txt` are one file
/// where most archives are extracted (Windows, macOS). A hash set without random state: no
/// randomness needed, and less code in the wasm than a B-tree.
#[derive(Debug, Default)]
struct Names(HashSet<String, BuildHasherDefault<Fnv>>);

impl Names {
    /// Whether an entry may be named `name` (a safe name).
    fn check(&self, name: &str) -> Result<(), ZipError> {
        let key = name.to_ascii_lowercase();
        if self.0.contains(&key) {
            return Err(ZipError::Duplicate(name.to_owned()));
        }
        let conflict = |at: usize| ZipError::Conflict { name: name.to_owned(), folder: name[..at].to_owned() };
        if self.0.contains(&format!("{key}/")) {
            return Err(conflict(name.len()));
        }
        // Lower-casing ASCII keeps every byte where it was.
        match key.match_indices('/').map(|(at, _)| at).find(|&at| self.0.contains(&key[..at])) {
            Some(at) => Err(conflict(at)),
            None => Ok(()),
        }
    }

    /// Takes `name` (checked) and its folders.
    fn insert(&mut self, name: &str) {
        let key = name.to_ascii_lowercase();
        for (at, _) in key.match_indices('/') {
            self.0.insert(key[..=at].to_owned());
        }
        self.0.insert(key);
    }
}

/// FNV-1a, 64-bit.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A 32-bit field's "see the ZIP64 extra" value, and the first value that needs ZIP64.
const MAX_32: u64 = 0xFFFF_FFFF;
/// The entry count from which the ZIP64 end records are written.
const MAX_16: u64 = 0xFFFF;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;

/// Bit 3 (sizes and CRC in the descriptor) and bit 11 (UTF-8 names).
const FLAGS: u16 = 0x0808;
/// The extended timestamp extra field: tag, length, flags (mtime), mtime.
const TIMESTAMP_LEN: u64 = 9;
/// A regular file, `rw-r--r--`, in the external attributes (host Unix).
const FILE_MODE: u32 = 0o100_644 << 16;

/// What goes wrong with an archive: the caller's mistakes, and data that is not what was declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// Nothing is left of the name once made safe (`..`, `/`, empty).
    #[error("the entry name \"{0}\" names no file (nothing is left of it once made safe)")]
    EmptyName(String),
    /// The name is longer than a zip header holds (65,535 bytes of UTF-8).
    #[error("the entry name is {0} bytes long; a zip entry name holds at most 65535")]
    NameTooLong(usize),
    /// Two entries with the same name (once made safe, and ASCII letters' case aside).
    #[error("the archive already has an entry named \"{0}\"")]
    Duplicate(String),
    /// A path that would be both a file and a folder (`a/b`, then `a/b/c.txt`, or the reverse).
    #[error("the entry \"{name}\" cannot be added: \"{folder}\" would be both a file and a folder")]
    Conflict {
        /// The entry's name (made safe).
        name: String,
        /// The path that would be both.
        folder: String,
    },
    /// An entry that is not the next one declared (name or size), or one past the declared list.
    #[error("entry {index} is {got}, but the declared entries say {expected}")]
    NotDeclared {
        /// The entry's position (from 0).
        index: u64,
        /// What was added.
        got: String,
        /// What the declared list has there.
        expected: String,
    },
    /// The archive ended before every declared entry was added.
    #[error("the archive was closed after {added} entries, but {declared} were declared")]
    MissingEntries {
        /// Entries added.
        added: u64,
        /// Entries declared.
        declared: u64,
    },
    /// An entry's data is longer or shorter than its declared size.
    #[error("entry \"{name}\" was declared {declared} bytes long, but {written} bytes came")]
    SizeMismatch {
        /// The entry's name.
        name: String,
        /// Its declared size.
        declared: u64,
        /// Bytes written (so far, where there are too many).
        written: u64,
    },
    /// A call out of order: data or an entry's end without an entry, an entry while one is open,
    /// anything after the archive's end.
    #[error("{0}")]
    Order(&'static str),
    /// The archive would pass 2^64 bytes.
    #[error("the archive would be larger than 2^64 bytes")]
    TooLarge,
}

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// As is (method 0).
    Stored,
    /// Raw deflate (method 8); the caller compresses, and reports the compressed length.
    Deflated,
}

/// One entry, as [`ZipWriter::start_entry`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as the app gave it; stored made safe ([`safe_name`]).
    pub name: String,
    /// Its uncompressed size, if known: the data must then be exactly this long.
    pub size: Option<u64>,
    /// Last modified, in seconds since the Unix epoch (UTC).
    pub modified: i64,
    /// How its data is stored.
    pub method: Method,
}

/// `name` as an entry may be named in an archive that extracts safely everywhere, Windows
/// included: `\` becomes `/`; a drive letter, leading slashes, and empty, `.` and `..` segments
/// go; control characters, the marks that reorder text (bidi controls) and `<>:"|?*` become
/// `_`; trailing dots and spaces of a segment go; a device name (`CON`, `nul.txt`, `COM1`,
/// `CONIN$`, `LPT²`) gets a leading `_`. A name of which nothing is left, or that is too
/// long, is an error.
pub fn safe_name(name: &str) -> Result<String, ZipError> {
    let slashes = name.replace('\\', "/");
    let without_drive = match slashes.as_bytes() {
        [letter, b':', ..] if letter.is_ascii_alphabetic() => &slashes[2..],
        _ => &slashes[..],
    };
    let replaced: String = without_drive
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut safe = String::with_capacity(replaced.len());
    for segment in replaced.split('/').map(|s| s.trim_end_matches(['.', ' '])).filter(|s| !s.is_empty()) {
        if !safe.is_empty() {
            safe.push('/');
        }
        let stem = segment.split('.').next().unwrap_or_default().trim_end().to_ascii_uppercase();
        // Windows's reserved names: its docs list COM0-9 and LPT0-9 with the superscript digits.
        let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$")
            || (stem.chars().count() == 4
                && (stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.ends_with(|c: char| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³')));
        if device {
            safe.push('_');
        }
        safe.push_str(segment);
    }
    if safe.is_empty() {
        return Err(ZipError::EmptyName(name.to_owned()));
    }
    if safe.len() > 0xFFFF {
        return Err(ZipError::NameTooLong(safe.len()));
    }
    Ok(safe)
}

/// Whether an entry of `size` (`None`: unknown) stored at `offset` is a ZIP64 entry.
fn is_zip64(size: Option<u64>, offset: u64) -> bool {
    size.is_none_or(|s| s >= MAX_32) || offset >= MAX_32
}

/// The exact size of an archive of these entries (name, size), stored, in this order: what
/// [`ZipWriter`] writes for them. Names are made safe as the writer makes them.
pub fn archive_size<'a>(entries: impl IntoIterator<Item = (&'a str, u64)>) -> Result<u64, ZipError> {
    let mut offset = 0u64;
    let mut central = 0u64;
    let mut count = 0u64;
    let mut names = Names::default();
    for (name, size) in entries {
        let name = unique(&mut names, name)?;
        let n = name.len() as u64;
        let zip64 = is_zip64(Some(size), offset);
        let z = u64::from(zip64);
        let local = (30 + n + TIMESTAMP_LEN + 20 * z).checked_add(size).and_then(|l| l.checked_add(16 + 8 * z));
        offset = local.and_then(|l| offset.checked_add(l)).ok_or(ZipError::TooLarge)?;
        central = central.checked_add(46 + n + TIMESTAMP_LEN + 28 * z).ok_or(ZipError::TooLarge)?;
        count += 1;
    }
    let zip64_end = needs_zip64_end(count, central, offset);
    offset.checked_add(central).and_then(|s| s.checked_add(76 * u64::from(zip64_end) + 22)).ok_or(ZipError::TooLarge)
}

/// `name` made safe, if no earlier entry has it (or a path that conflicts with it).
fn unique(names: &mut Names, name: &str) -> Result<String, ZipError> {
    let safe = safe_name(name)?;
    names.check(&safe)?;
    names.insert(&safe);
    Ok(safe)
}

/// Whether the archive needs the ZIP64 end records.
fn needs_zip64_end(count: u64, central_size: u64, central_offset: u64) -> bool {
    count >= MAX_16 || central_size >= MAX_32 || central_offset >= MAX_32
}

/// The entry being written.
#[derive(Debug)]
struct Open {
    name: String,
    size: Option<u64>,
    method: Method,
    zip64: bool,
    offset: u64,
    written: u64,
    compressed: u64,
    time: u16,
    date: u16,
    modified: i64,
}

/// A streamed zip archive: [`ZipWriter::start_entry`], then the entry's data (the caller
/// writes it, after telling [`ZipWriter::data`]), [`ZipWriter::end_entry`], ..., and
/// [`ZipWriter::finish`]. Each call returns the bytes that come next in the archive.
#[derive(Debug)]
pub struct ZipWriter {
    /// Bytes of the archive so far.
    offset: u64,
    central: Vec<u8>,
    count: u64,
    names: Names,
    open: Option<Open>,
    /// The entries still to come, where the app declared them (name made safe, size).
    declared: Option<VecDeque<(String, u64)>>,
    declared_count: u64,
    /// The CRC-32 of the open entry's data.
    crc: Crc32,
    /// Why the archive takes nothing more: it is finished, or an entry's data was not its size.
    stopped: Option<&'static str>,
}

impl ZipWriter {
    /// A new archive. With `declared` entries (name and size, in order), every entry must be
    /// the next one of them, stored, with exactly that size: the archive's size is then
    /// [`archive_size`] of them, known before the first byte.
    pub fn new(declared: Option<Vec<(String, u64)>>) -> Result<ZipWriter, ZipError> {
        let declared = match declared {
            Some(entries) => {
                let mut names = Names::default();
                let mut queue = VecDeque::with_capacity(entries.len());
                for (name, size) in entries {
                    queue.push_back((unique(&mut names, &name)?, size));
                }
                Some(queue)
            }
            None => None,
        };
        Ok(ZipWriter {
            offset: 0,
            central: Vec::new(),
            count: 0,
            names: Names::default(),
            open: None,
            declared_count: declared.as_ref().map_or(0, |d| d.len() as u64),
            declared,
            crc: Crc32::new(),
            stopped: None,
        })
    }

    /// An error if the archive takes nothing more.
    fn usable(&self) -> Result<(), ZipError> {
        self.stopped.map_or(Ok(()), |why| Err(ZipError::Order(why)))
    }

    /// The open entry's data is not its size: the archive fails with `e` (it cannot be whole).
    fn stop(&mut self, e: ZipError) -> ZipError {
        self.stopped = Some("the archive failed: an entry's data was not its declared size");
        e
    }

    /// Bytes of the archive returned so far, entries' data included.
    pub fn written(&self) -> u64 {
        self.offset
    }

    /// Whether the entries were declared up front.
    pub fn is_declared(&self) -> bool {
        self.declared.is_some()
    }

    /// The safe name of the entry being written, if one is.
    pub fn current(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.name.as_str())
    }

    /// Starts an entry: its local header. In a declared archive, an entry of unknown size
    /// takes the declared one.
    pub fn start_entry(&mut self, mut entry: Entry) -> Result<Vec<u8>, ZipError> {
        self.usable()?;
        if self.open.is_some() {
            return Err(ZipError::Order("an entry is still open: end it first"));
        }
        let name = safe_name(&entry.name)?;
        self.names.check(&name)?;
        if let Some(declared) = &mut self.declared {
            let got = |size: Option<u64>| match size {
                Some(size) => format!("\"{name}\" ({size} bytes, {})", method_name(entry.method)),
                None => format!("\"{name}\" (size unknown, {})", method_name(entry.method)),
            };
            let matches = declared.front().is_some_and(|(n, s)| {
                *n == name && entry.size.is_none_or(|size| size == *s) && entry.method == Method::Stored
            });
            if !matches {
                let expected = match declared.front() {
                    Some((n, s)) => format!("\"{n}\" ({s} bytes, stored)"),
                    None => "no more entries".to_owned(),
                };
                return Err(ZipError::NotDeclared { index: self.count, got: got(entry.size), expected });
            }
            entry.size = declared.pop_front().map(|(_, size)| size);
        }
        // A deflated entry's compressed size decides too: deflate can grow the data (by a few
        // bytes per 64 KiB in zlib, more in others), so 2 GiB or more is ZIP64 whatever it makes.
        let size = match entry.method {
            Method::Stored => entry.size,
            Method::Deflated => entry.size.filter(|&size| size < MAX_32 / 2),
        };
        let zip64 = is_zip64(size, self.offset);
        let (time, date) = dos_time(entry.modified);
        let mut out = Vec::with_capacity(30 + name.len() + 29);
        let sizes = if zip64 { MAX_32 } else { 0 };
        put(
            &mut out,
            &[
                (LOCAL_HEADER.into(), 4),
                (version_needed(zip64).into(), 2),
                (FLAGS.into(), 2),
                (method_code(entry.method).into(), 2),
                (time.into(), 2),
                (date.into(), 2),
                (0, 4), // CRC-32: in the descriptor
                (sizes, 4),
                (sizes, 4),
                (name.len() as u64, 2),
                (TIMESTAMP_LEN + if zip64 { 20 } else { 0 }, 2),
            ],
        );
        out.extend_from_slice(name.as_bytes());
        if zip64 {
            // The ZIP64 extra with both sizes 0: the 64-bit descriptor has them.
            put(&mut out, &[(0x0001, 2), (16, 2), (0, 8), (0, 8)]);
        }
        put_timestamp(&mut out, entry.modified);
        self.names.insert(&name);
        self.open = Some(Open {
            name,
            size: entry.size,
            method: entry.method,
            zip64,
            offset: self.offset,
            written: 0,
            compressed: 0,
            time,
            date,
            modified: entry.modified,
        });
        self.crc.reset();
        self.advance(out.len() as u64)?;
        Ok(out)
    }

    /// Takes the next `bytes` of the open entry's data (uncompressed), before the caller writes
    /// them (stored) or their compressed form (see [`ZipWriter::compressed`]). Bytes past the
    /// declared size are refused: nothing of them may be written.
    pub fn data(&mut self, bytes: &[u8]) -> Result<(), ZipError> {
        self.usable()?;
        let open = self.open.as_mut().ok_or(ZipError::Order("no entry is open: start one first"))?;
        let written = open.written.checked_add(bytes.len() as u64).ok_or(ZipError::TooLarge)?;
        if let Some(declared) = open.size.filter(|&declared| written > declared) {
            let e = ZipError::SizeMismatch { name: open.name.clone(), declared, written };
            return Err(self.stop(e));
        }
        if written >= MAX_32 && !open.zip64 {
            // Only where a declared size allowed a 32-bit entry, which the check above keeps.
            return Err(self.stop(ZipError::Order("an entry declared under 4 GiB passed it")));
        }
        self.crc.update(bytes);
        open.written = written;
        if open.method == Method::Stored {
            open.compressed = written;
            self.advance(bytes.len() as u64)?;
        }
        Ok(())
    }

    /// Counts `len` compressed bytes of a deflated entry, which the caller writes.
    pub fn compressed(&mut self, len: u64) -> Result<(), ZipError> {
        self.usable()?;
        let open = self.open.as_mut().ok_or(ZipError::Order("no entry is open: start one first"))?;
        if open.method != Method::Deflated {
            return Err(ZipError::Order("compressed bytes for a stored entry"));
        }
        open.compressed = open.compressed.checked_add(len).ok_or(ZipError::TooLarge)?;
        if open.compressed >= MAX_32 && !open.zip64 {
            return Err(self.stop(ZipError::Order("a deflated entry passed the 4 GiB its header allowed")));
        }
        self.advance(len)
    }

    /// Ends the open entry: its data descriptor. Data shorter than its declared size is an error.
    pub fn end_entry(&mut self) -> Result<Vec<u8>, ZipError> {
        self.usable()?;
        let open = self.open.as_ref().ok_or(ZipError::Order("no entry is open"))?;
        if let Some(declared) = open.size.filter(|&declared| declared != open.written) {
            let e = ZipError::SizeMismatch { name: open.name.clone(), declared, written: open.written };
            return Err(self.stop(e));
        }
        let Some(open) = self.open.take() else { return Err(ZipError::Order("no entry is open")) };
        let crc = self.crc.finish();
        let mut out = Vec::with_capacity(24);
        let width = if open.zip64 { 8 } else { 4 };
        put(&mut out, &[(DESCRIPTOR.into(), 4), (crc.into(), 4), (open.compressed, width), (open.written, width)]);
        self.central_header(&open, crc);
        self.count += 1;
        self.advance(out.len() as u64)?;
        Ok(out)
    }

    /// The entry's central directory header.
    fn central_header(&mut self, open: &Open, crc: u32) {
        let out = &mut self.central;
        let needed = u64::from(version_needed(open.zip64));
        let small = |v: u64| if open.zip64 { MAX_32 } else { v };
        put(
            out,
            &[
                (CENTRAL_HEADER.into(), 4),
                ((3 << 8) | needed, 2), // made by: Unix, the same version
                (needed, 2),
                (FLAGS.into(), 2),
                (method_code(open.method).into(), 2),
                (open.time.into(), 2),
                (open.date.into(), 2),
                (crc.into(), 4),
                (small(open.compressed), 4),
                (small(open.written), 4),
                (open.name.len() as u64, 2),
                (TIMESTAMP_LEN + if open.zip64 { 28 } else { 0 }, 2),
                (0, 2), // comment
                (0, 2), // disk
                (0, 2), // internal attributes
                (FILE_MODE.into(), 4),
                (small(open.offset), 4),
            ],
        );
        out.extend_from_slice(open.name.as_bytes());
        if open.zip64 {
            put(out, &[(0x0001, 2), (24, 2), (open.written, 8), (open.compressed, 8), (open.offset, 8)]);
        }
        put_timestamp(out, open.modified);
    }

    /// Ends the archive: the central directory and the end records. Entries declared but not
    /// added, or an entry still open, are errors.
    pub fn finish(&mut self) -> Result<Vec<u8>, ZipError> {
        self.usable()?;
        if self.open.is_some() {
            return Err(ZipError::Order("an entry is still open: end it first"));
        }
        if self.declared.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(ZipError::MissingEntries { added: self.count, declared: self.declared_count });
        }
        self.stopped = Some("the archive is already finished");
        let central_offset = self.offset;
        let central_size = self.central.len() as u64;
        let mut out = std::mem::take(&mut self.central);
        if needs_zip64_end(self.count, central_size, central_offset) {
            let end_offset = central_offset.checked_add(central_size).ok_or(ZipError::TooLarge)?;
            put(
                &mut out,
                &[
                    (ZIP64_END.into(), 4),
                    (44, 8), // the record's size after this field
                    ((3 << 8) | 45, 2),
                    (45, 2),
                    (0, 4), // this disk
                    (0, 4), // the central directory's disk
                    (self.count, 8),
                    (self.count, 8),
                    (central_size, 8),
                    (central_offset, 8),
                    (ZIP64_LOCATOR.into(), 4),
                    (0, 4),
                    (end_offset, 8),
                    (1, 4), // disks
                ],
            );
        }
        let count = self.count.min(MAX_16);
        put(
            &mut out,
            &[
                (END.into(), 4),
                (0, 2),
                (0, 2),
                (count, 2),
                (count, 2),
                (central_size.min(MAX_32), 4),
                (central_offset.min(MAX_32), 4),
                (0, 2), // comment
            ],
        );
        self.advance(out.len() as u64)?;
        Ok(out)
    }

    fn advance(&mut self, len: u64) -> Result<(), ZipError> {
        self.offset = self.offset.checked_add(len).ok_or(ZipError::TooLarge)?;
        Ok(())
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Stored => "stored",
        Method::Deflated => "deflated",
    }
}

fn method_code(method: Method) -> u16 {
    match method {
        Method::Stored => 0,
        Method::Deflated => 8,
    }
}

/// 4.5 for a ZIP64 entry (APPNOTE 4.4.3.2), else 2.0 (deflate's; what Microsoft Office
/// documents must say).
fn version_needed(zip64: bool) -> u16 {
    if zip64 {
        45
    } else {
        20
    }
}

/// The extended timestamp extra field (0x5455) with the modification time, the same in the
/// local and the central header. Clamped to 1970 .. 2038, which readers that take it as signed
/// and those that take it as unsigned read alike (the DOS date has the year up to 2107).
fn put_timestamp(out: &mut Vec<u8>, modified: i64) {
    let mtime = modified.clamp(0, i64::from(i32::MAX)) as u64;
    put(out, &[(0x5455, 2), (5, 2), (1, 1), (mtime, 4)]);
}

/// MS-DOS time and date of `unix` seconds (UTC; the extended timestamp has the exact time),
/// clamped to 1980-01-01 .. 2107-12-31.
fn dos_time(unix: i64) -> (u16, u16) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year < 1980 {
        return (0, (1 << 5) | 1);
    }
    if year > 2107 {
        return ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    }
    let time = ((secs / 3600) << 11) | ((secs % 3600 / 60) << 5) | ((secs % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// Writes each value little-endian in its width (1, 2, 4 or 8 bytes). One loop for every
/// record: less wasm than a call per field.
fn put(out: &mut Vec<u8>, fields: &[(u64, usize)]) {
    for &(value, width) in fields {
        out.extend_from_slice(&value.to_le_bytes()[..width]);
    }
}

/// CRC-32 (IEEE, as zip uses it), eight bytes at a time ("slicing by 8") through eight
/// 256-entry tables made at start (computed, not stored: they would not compress in the wasm).
#[derive(Clone)]
pub struct Crc32 {
    tables: Box<[[u32; 256]; 8]>,
    value: u32,
}

impl std::fmt::Debug for Crc32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc32({:08x})", !self.value)
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

impl Crc32 {
    /// The CRC of no bytes.
    pub fn new() -> Crc32 {
        let mut tables = Box::new([[0u32; 256]; 8]);
        for n in 0..256 {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            tables[0][n] = c;
        }
        // Table k: the CRC of byte n followed by k zero bytes.
        for k in 1..8 {
            for n in 0..256 {
                let c = tables[k - 1][n];
                tables[k][n] = tables[0][(c & 0xFF) as usize] ^ (c >> 8);
            }
        }
        Crc32 { tables, value: !0 }
    }

    /// Starts again, with no bytes.
    pub fn reset(&mut self) {
        self.value = !0;
    }

    /// Takes `bytes` in.
    pub fn update(&mut self, bytes: &[u8]) {
        let t = &*self.tables;
        let mut c = self.value;
        let mut eights = bytes.chunks_exact(8);
        for b in &mut eights {
            let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            c = t[7][(lo & 0xFF) as usize]
                ^ t[6][((lo >> 8) & 0xFF) as usize]
                ^ t[5][((lo >> 16) & 0xFF) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][usize::from(b[4])]
                ^ t[2][usize::from(b[5])]
                ^ t[1][usize::from(b[6])]
                ^ t[0][usize::from(b[7])];
        }
        for &b in eights.remainder() {
            c = t[0][((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.value = c;
    }

    /// The CRC of every byte taken in.
    pub fn finish(&self) -> u32 {
        !self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC a byte at a time, as the format defines it.
    fn crc_bitwise(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn crc_eight_at_a_time_is_the_bitwise_crc_however_the_bytes_are_split() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 1000] {
            for split in [0, 1, 3, 8, len / 2, len] {
                let split = split.min(len);
                let mut crc = Crc32::new();
                crc.update(&bytes[..split]);
                crc.update(&bytes[split..len]);
                assert_eq!(crc.finish(), crc_bitwise(&bytes[..len]), "{len} bytes split at {split}");
            }
        }
    }

    #[test]
    fn crc_of_the_check_string() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xCBF4_3926);
    }

    #[test]
    fn one_small_entry_is_242_bytes() {
        assert_eq!(archive_size([("a.txt", 100)]), Ok(242));
    }

    #[test]
    fn hostile_names_are_made_safe() {
        for (name, safe) in [
            ("../../etc/passwd", "etc/passwd"),
            ("C:\\x", "x"),
            ("a/../../b", "a/b"),
            ("/abs", "abs"),
            ("a\0b", "a_b"),
            ("//host/share/f", "host/share/f"),
            ("./a/./b/", "a/b"),
            ("dir\\sub\\f.txt", "dir/sub/f.txt"),
            ("é/ü.txt", "é/ü.txt"),
            ("a/U:b", "a/U_b"),
            ("file:stream", "file_stream"),
            ("what?.txt", "what_.txt"),
            ("dir./f. ", "dir/f"),
            ("CON", "_CON"),
            ("docs/nul.txt", "docs/_nul.txt"),
            ("COM1.log", "_COM1.log"),
            ("console.txt", "console.txt"),
            ("conin$", "_conin$"),
            ("x/CONOUT$.txt", "x/_CONOUT$.txt"),
            ("com\u{b9}.txt", "_com\u{b9}.txt"),
            ("LPT\u{b3}", "_LPT\u{b3}"),
            ("COM\u{2074}", "COM\u{2074}"),
            ("COM10", "COM10"),
            ("a/.../b", "a/b"),
            ("photo\u{202E}gpj.exe", "photo_gpj.exe"),
            ("\u{2067}x\u{2069}\u{200F}", "_x__"),
        ] {
            assert_eq!(safe_name(name).as_deref(), Ok(safe), "{name:?}");
        }
        for name in ["", "..", "/", "C:", "./..//"] {
            assert!(matches!(safe_name(name), Err(ZipError::EmptyName(_))), "{name:?}");
        }
    }

    #[test]
    fn dos_times() {
        // 2024-02-29 13:45:58 UTC
        assert_eq!(dos_time(1_709_214_358), ((13 << 11) | (45 << 5) | 29, (44 << 9) | (2 << 5) | 29));
        assert_eq!(dos_time(0), (0, (1 << 5) | 1), "before 1980: 1980-01-01");
    }

    #[test]
    fn zip64_is_decided_by_size_and_offset() {
        assert!(!is_zip64(Some(MAX_32 - 1), MAX_32 - 1));
        assert!(is_zip64(Some(MAX_32), 0));
        assert!(is_zip64(None, 0));
        assert!(is_zip64(Some(0), MAX_32));
        assert!(!needs_zip64_end(MAX_16 - 1, MAX_32 - 1, MAX_32 - 1));
        assert!(needs_zip64_end(MAX_16, 0, 0));
        assert!(needs_zip64_end(1, MAX_32, 0));
        assert!(needs_zip64_end(1, 0, MAX_32));
    }
}
