import type { buildSync as BuildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { createRequire, SourceMap } from 'node:module';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Actor modules are TypeScript. Loading them through tsx's hooks in every
 * worker costs about half a second of CPU per thread (module by module through
 * one hooks thread), which a 256-vCPU run cannot afford; so each actor module
 * is bundled once, with esbuild, into one plain ES module (with a source map,
 * so stacks still name the .ts files), stored by content hash in the temp
 * directory and reused. Workers run without --enable-source-maps (each would
 * read and keep the map at start-up: ~20 ms and its memory, in every one of
 * 256 threads); a stack that leaves a worker is mapped here instead
 * (mapBundledStack), by the one thread that shows it.
 */

const built = new Map<string, URL>();
const DIR = join(tmpdir(), `haltlab-actors-${process.getuid?.() ?? 'user'}`);

export function actorBundle(module: URL): URL {
  const key = module.href;
  const cached = built.get(key);
  if (cached) return cached;
  // Loaded here, not at the top: every actor bundle includes this module (through actor.ts), and a
  // static import put esbuild's JavaScript API (~100 KB) into each one, parsed by every thread.
  const { buildSync } = createRequire(import.meta.url)('esbuild') as { buildSync: typeof BuildSync };
  const out = buildSync({
    entryPoints: [fileURLToPath(module)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The map in a file of its own, read only when a stack trace needs it (inline, it doubles start-up).
    sourcemap: 'linked',
    legalComments: 'none',
    outfile: join(DIR, 'actor.mjs'),
    write: false,
    logLevel: 'silent',
    // Bundled CommonJS dependencies may call require(): give the ES module one.
    banner: { js: "import { createRequire as __haltlabRequire } from 'node:module'; const require = __haltlabRequire(import.meta.url);" },
  });
  const js = out.outputFiles.find((f) => f.path.endsWith('.mjs'))!.text;
  const map = out.outputFiles.find((f) => f.path.endsWith('.map'))!.text;
  const hash = createHash('sha256').update(js).update(map).digest('hex').slice(0, 16);
  mkdirSync(DIR, { recursive: true });
  const file = join(DIR, `${hash}.mjs`);
  if (!existsSync(file)) {
    // Write then rename: another process bundling the same code never sees half a file.
    const put = (path: string, text: string) => {
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    };
    put(`${file}.map`, map);
    put(file, js.replace(/\/\/# sourceMappingURL=actor\.mjs\.map\s*$/, `//# sourceMappingURL=${hash}.mjs.map\n`));
  }
  const url = pathToFileURL(file);
  built.set(key, url);
  return url;
}

const maps = new Map<string, SourceMap | null>();

function sourceMapOf(bundle: string): SourceMap | null {
  let map = maps.get(bundle);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(bundle)}.map`, 'utf8')));
    } catch {
      map = null; // no map (deleted meanwhile): the frame keeps the bundle's position
    }
    maps.set(bundle, map);
  }
  return map;
}

/** A bundled actor's stack with its frames named by their TypeScript files and lines, as --enable-source-maps would. */
export function mapBundledStack(stack: string | undefined): string | undefined {
  if (!stack) return stack;
  return stack.replace(/(file:\/\/[^\s()]*\/haltlab-actors-[^/\s()]+\/[0-9a-f]{16}\.mjs):(\d+):(\d+)/g, (frame, bundle: string, line: string, column: string) => {
    const entry = sourceMapOf(bundle)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry) || !entry.originalSource) return frame;
    // The map names sources relative to itself (esbuild): resolved, as --enable-source-maps shows them.
    return `${new URL(entry.originalSource, bundle).href}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}
