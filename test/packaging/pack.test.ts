import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// What `npm pack` ships, installed the way a user would: globally, from the tarball, into a
// prefix of its own; then the installed command runs from a folder of its own.

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'haltlab-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('ships the program and no tests, installs globally, and runs', async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
    const [pack] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = pack.files.map((f) => f.path);
    expect(files).toContain('bin/haltlab.mjs');
    expect(files).toContain('src/cli/main.ts');
    expect(files).toContain('bench/wake.ts'); // `haltlab bench` imports it
    expect(files.filter((f) => f.startsWith('test/') || f.includes('.test.'))).toEqual([]);

    const prefix = join(dir, 'prefix');
    // The dependencies come from the cache `npm ci` filled; the registry only for what it lacks.
    await run('npm', ['install', '-g', '--prefix', prefix, join(dir, pack.filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, timeout: 240_000 });
    const haltlab = join(prefix, 'bin', 'haltlab');
    const work = mkdtempSync(join(dir, 'cwd-'));
    const version = await run(haltlab, ['--version'], { cwd: work });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const r = await run(haltlab, ['run', '--duration', '1', '--quiet'], { cwd: work, timeout: 60_000 });
    expect(r.stdout).toContain('halt statistics');
    expect(readdirSync(work)).toEqual([]); // and it wrote nothing it was not asked to
  }, 300_000);
});
