import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The block device's backend: a temporary file that the pool writes with
 * O_DSYNC, or a synthetic device with a fixed service time for runs that must
 * not touch the disk. The file is preallocated, so that each write replaces
 * data in place (fio's way) instead of growing the file, and removed after the run.
 */

export type BlockBackendConfig =
  | { kind: 'file'; path: string; block_size: number; file_bytes: number }
  | { kind: 'synthetic'; latency_ns: number; block_size: number; file_bytes: number };

export interface BlockBackend {
  config: BlockBackendConfig;
  /** Remove the temporary file (idempotent). */
  remove(): void;
}

/** Writes cycle through this much of the file. */
export const BLOCK_FILE_BYTES = 4 * 1024 * 1024;

export function createBlockBackend(kind: 'file' | 'synthetic', blockSize: number, latencyNs: number): BlockBackend {
  if (kind === 'synthetic') return { config: { kind, latency_ns: latencyNs, block_size: blockSize, file_bytes: BLOCK_FILE_BYTES }, remove: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'haltlab-blk-'));
  const path = join(dir, 'disk.img');
  writeFileSync(path, Buffer.alloc(BLOCK_FILE_BYTES));
  return {
    config: { kind, path, block_size: blockSize, file_bytes: BLOCK_FILE_BYTES },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
