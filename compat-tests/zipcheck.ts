// The four independent zip readers every archive the browser saves is checked by (Debian's unzip,
// python3, p7zip-full and libarchive-tools, which `cargo xtask test` installs): `unzip -t`,
// Python's `zipfile` (every entry's bytes, by sha256), `7z t` and `bsdtar -tf`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An entry as the archive must hold it: its name and the sha256 of its bytes (hex). */
export interface Expected { name: string; sha256: string }

/** What Python's zipfile checks: CRCs (testzip), then each entry's name and sha256, in order. */
const PYTHON = `
import hashlib, json, sys, zipfile
want = [tuple(w) for w in json.load(sys.stdin)]
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    if bad is not None:
        sys.exit(f"bad CRC-32 in {bad}")
    got = [(i.filename, hashlib.sha256(z.read(i)).hexdigest()) for i in z.infolist()]
if got != want:
    first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
    sys.exit(f"{len(got)} entries, {len(want)} expected; first difference at entry {first}")
print(f"{len(got)} entries, each byte-exact")
`;

/** Runs a reader; throws with what it printed if it rejects the archive. */
function run(program: string, args: string[], input?: string): string {
  try {
    return execFileSync(program, args, { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  } catch (e: any) {
    throw new Error(`${program} ${args.join(' ')} rejected the archive: ${String(e.stdout ?? '').slice(-800)}${String(e.stderr ?? '').slice(-800)}`);
  }
}

/** Checks `file` with the four readers against `expected`; a line saying what each found. */
export function checkZip(file: string, expected: Expected[]): string {
  run('unzip', ['-t', '-qq', file]);
  const want = expected.map((e) => [e.name, e.sha256]);
  const python = run('python3', ['-c', PYTHON, file], JSON.stringify(want)).trim();
  const sevenZip = run('7z', ['t', file]);
  if (!/Everything is Ok/.test(sevenZip)) throw new Error(`7z t did not say "Everything is Ok": ${sevenZip.slice(-800)}`);
  const listed = run('bsdtar', ['-tf', file]).split('\n').filter(Boolean);
  const names = expected.map((e) => e.name);
  if (JSON.stringify(listed) !== JSON.stringify(names)) {
    throw new Error(`bsdtar listed ${listed.length} entries, not the ${names.length} expected (first: ${listed[0]})`);
  }
  return `unzip -t, 7z t: ok; zipfile: ${python}; bsdtar: ${listed.length} listed`;
}

/** The readers that take `file` for a whole archive (each exits 0 on it): none, for a failed one. */
export function acceptedBy(file: string): string[] {
  const readers: [string, string, string[]][] = [
    ['unzip -t', 'unzip', ['-t', '-qq', file]],
    ['zipfile', 'python3', ['-c', 'import sys, zipfile\nsys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)', file]],
    ['7z t', '7z', ['t', file]],
    ['bsdtar -tf', 'bsdtar', ['-tf', file]],
  ];
  return readers.filter(([, program, args]) => {
    try {
      execFileSync(program, args, { stdio: 'ignore' });
      return true;
    } catch (e: any) {
      // A reader that is not there must not pass for one that refused.
      if (e.code === 'ENOENT') throw new Error(`${program} is not installed (cargo xtask test installs it)`);
      return false;
    }
  }).map(([name]) => name);
}

/**
 * Extracts `file` with each of the four readers (`unzip`, Python's `zipfile`, `7z x`,
 * `bsdtar -x`) into `target` inside a fresh sandbox folder; throws if any writes outside
 * `target`, or extracts other files than `names`. Returns what each extracted.
 */
export function extractSafely(file: string, names: string[]): string {
  // Two levels: an escape by `..` would land in `outer` or `sandbox`, both watched.
  const outer = mkdtempSync(join(tmpdir(), 'sluice-extract-'));
  const sandbox = join(outer, 'sandbox');
  mkdirSync(sandbox);
  try {
    const lines: string[] = [];
    for (const [reader, program, args] of [
      ['unzip', 'unzip', ['-qq', '-o', file, '-d']],
      ['zipfile', 'python3', ['-c', 'import sys, zipfile\nzipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', file]],
      ['7z x', '7z', ['x', '-y', file]],
      ['bsdtar -x', 'bsdtar', ['-xf', file, '-C']],
    ] as [string, string, string[]][]) {
      const target = join(sandbox, 'target');
      mkdirSync(target);
      // 7z takes its folder glued to -o.
      run(program, program === '7z' ? [...args, `-o${target}`] : [...args, target]);
      const outside = [...readdirSync(sandbox).filter((f) => f !== 'target'), ...readdirSync(outer).filter((f) => f !== 'sandbox')];
      if (outside.length) throw new Error(`${reader} wrote outside its target folder: ${outside.join(', ')}`);
      const got = (readdirSync(target, { recursive: true }) as string[])
        .filter((f) => statSync(join(target, f)).isFile())
        .sort();
      const want = [...names].sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`${reader} extracted ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
      }
      lines.push(`${reader}: ${got.length} files, all inside`);
      rmSync(target, { recursive: true, force: true });
    }
    return lines.join('; ');
  } finally {
    rmSync(outer, { recursive: true, force: true });
  }
}
