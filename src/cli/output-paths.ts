import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ScenarioError } from '../scenarios/error.ts';

/**
 * Files the command line writes (`--json FILE`, `--trace FILE`, `--svg FILE`)
 * are checked before any thread starts, so that a run of minutes is never
 * measured only to fail at the end on a path it could have refused at once.
 * haltlab writes only files a flag names, creates no folder, and overwrites
 * only the file named.
 */

export type OutputFlag = '--json' | '--trace' | '--svg' | '--out';

const kind = (p: string): 'dir' | 'file' | 'missing' => {
  try {
    return statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
};

const writable = (p: string) => {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** Why `path` cannot be written as a new or replaced file, or null when it can. */
export function outputPathProblem(path: string): string | null {
  if (path.trim() === '') return 'give a file name';
  if (/[/\\]$/.test(path) || kind(path) === 'dir') return 'that is a folder: give a file name inside it';
  const dir = dirname(resolve(path));
  const where = kind(dir);
  if (where === 'missing') return `the folder ${dirname(path)} does not exist (haltlab creates no folders)`;
  if (where === 'file') return `${dirname(path)} is a file, not a folder`;
  if (kind(path) === 'file') return writable(path) ? null : 'the file exists and is not writable';
  return writable(dir) ? null : `the folder ${dirname(path)} is not writable`;
}

/**
 * Check every output a command was given; throws one error naming each bad
 * flag (exit 2), and refuses two flags naming the same file (one would
 * overwrite the other).
 */
export function checkOutputPaths(outputs: readonly (readonly [OutputFlag, string | boolean | undefined])[]): void {
  const files = outputs.filter((o): o is readonly [OutputFlag, string] => typeof o[1] === 'string');
  const issues = files.flatMap(([flag, path]) => {
    const problem = outputPathProblem(path);
    return problem ? [`${flag} ${path}: ${problem}`] : [];
  });
  const seen = new Map<string, OutputFlag>();
  for (const [flag, path] of files) {
    const other = seen.get(resolve(path));
    if (other) issues.push(`${other} and ${flag} both name ${path}: give each its own file`);
    seen.set(resolve(path), flag);
  }
  if (issues.length) throw new ScenarioError(issues, 'command line', 'invalid option');
}
