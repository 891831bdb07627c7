// The test file's bytes, computed in Node exactly as compat-tests/demo/test.html does.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function byteAt(p: number): number {
  return ((Math.imul(p, 2654435761) >>> 24) ^ Math.floor(p / 1048576)) & 255;
}

const known = new Map<number, string>();

/** sha256 (hex) of the first `size` bytes of the test file (computed once per size). */
export function expectedSha256(size: number): string {
  const cached = known.get(size);
  if (cached) return cached;
  const hash = createHash('sha256');
  const block = Buffer.alloc(1 << 20);
  for (let offset = 0; offset < size; offset += block.length) {
    const length = Math.min(block.length, size - offset);
    for (let i = 0; i < length; i++) block[i] = byteAt(offset + i);
    hash.update(block.subarray(0, length));
  }
  const digest = hash.digest('hex');
  known.set(size, digest);
  return digest;
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * sha256 (hex) of `size` bytes whose MiB `k` is the test file's first MiB with each byte XOR
 * `k & 255` (what compat-tests/demo/producer-worker.js writes).
 */
export function blockSha256(size: number): string {
  const first = Buffer.alloc(1 << 20);
  for (let i = 0; i < first.length; i++) first[i] = byteAt(i);
  const hash = createHash('sha256');
  const block = Buffer.alloc(1 << 20);
  for (let k = 0; k * block.length < size; k++) {
    for (let i = 0; i < block.length; i++) block[i] = first[i] ^ (k & 255);
    hash.update(block.subarray(0, Math.min(block.length, size - k * block.length)));
  }
  return hash.digest('hex');
}
