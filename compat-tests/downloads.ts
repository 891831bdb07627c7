// What the browser's download folder says about a download that could not finish.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The first words of core's incomplete-notice (`sluice_core::INCOMPLETE_MARK`). */
export const INCOMPLETE_MARK = '[Sluice: THIS FILE IS INCOMPLETE';

/** A download as its folder shows it. */
export interface OnDisk {
  /** Size of the file under the final name, `null` if there is none. */
  final: number | null;
  /** Whether that file ends with the incomplete-notice. */
  marked: boolean;
  /** The browser's other files for it (`.part`, `.crdownload`). */
  beside: string[];
}

/**
 * What the download folder holds for `name`: the final file's size, whether it ends with the
 * incomplete-notice, and what lies beside it.
 */
export function onDisk(dir: string, name: string): OnDisk {
  const files = readdirSync(dir);
  const path = join(dir, name);
  const final = files.includes(name) ? statSync(path).size : null;
  const marked = final !== null && final > 0 && readFileSync(path).subarray(-1024).toString('latin1').includes(INCOMPLETE_MARK);
  return { final, marked, beside: files.filter((f) => f !== name && f.startsWith(name)) };
}

/**
 * Failed as the user can see it: no file, an empty placeholder beside the browser's partial
 * file, or a kept partial file that says it is incomplete.
 */
export function visiblyFailed(seen: OnDisk): boolean {
  return seen.final === null || seen.final === 0 || seen.marked;
}

/**
 * What the folder shows for `name` once the browser has settled on a download that should have
 * failed: polls until it looks failed and no partial file is left beside it, or until it has
 * looked failed for `settleMs` (Firefox keeps its `.part` beside a failed download's
 * placeholder), or `maxMs`. Judged any sooner, a download still running looks failed too (no
 * final file yet), and one that a bug closed short would pass.
 */
export async function failedOnDisk(dir: string, name: string, maxMs = 45_000, settleMs = 10_000): Promise<OnDisk> {
  const began = Date.now();
  let looked: number | null = null;
  for (;;) {
    const seen = onDisk(dir, name);
    looked = visiblyFailed(seen) ? (looked ?? Date.now()) : null;
    const settled = looked !== null && (seen.beside.length === 0 || Date.now() - looked >= settleMs);
    if (settled || Date.now() - began >= maxMs) return seen;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One line for the matrix: `10485952 B ending with the incomplete-notice + x.part`. */
export function describeOnDisk(seen: OnDisk): string {
  const file = seen.final === null ? 'no file' : `${seen.final} B${seen.marked ? ' ending with the incomplete-notice' : ''}`;
  return file + (seen.beside.length ? ` + ${seen.beside.join(', ')}` : '');
}
