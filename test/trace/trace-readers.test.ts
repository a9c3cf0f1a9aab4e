import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { launchChromium, PAGE_OPTIONS } from '../support/chromium.ts';

// A trace opens cleanly in the readers the docs name: Perfetto's JSON importer (its arithmetic,
// replayed here: no Perfetto runs offline) and speedscope (its released app, in headless Chromium).

interface Ev {
  ph: string;
  cat?: string;
  pid: number;
  tid?: number;
  name: string;
  ts?: number;
  dur?: number;
}

let dir: string;
let trace: { traceEvents: Ev[] };
let path: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haltlab-trace-readers-'));
  // One pCPU for three vCPUs: short, frequent state changes on every track, the case where rounding bit.
  const vm = createVm(parseScenario({ duration_s: 0.5, vm: { vcpus: 3 }, host: { pcpus: 1 }, workload: { kind: 'irq-wake', gap_ns: 30_000 } }), { trace: true });
  expect((await vm.run()).status).toBe('completed');
  path = join(dir, 'trace.json');
  vm.writeTrace(path);
  trace = JSON.parse(readFileSync(path, 'utf8'));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tracks = (events: Ev[]) => {
  const by = new Map<string, Ev[]>();
  for (const e of events.filter((x) => x.ph === 'X')) by.set(`${e.pid}/${e.tid}`, [...(by.get(`${e.pid}/${e.tid}`) ?? []), e]);
  for (const slices of by.values()) slices.sort((a, b) => a.ts! - b.ts!);
  return by;
};

describe('a slice ends where the next begins, never past it', () => {
  it('as speedscope reads it (rebased on the first event, ts + dur in floats) and as Perfetto does (each rounded to whole ns)', () => {
    const ns = (us: number) => Math.round(us * 1000); // Perfetto: llround(value * 1000.0)
    let slices = 0;
    for (const [track, list] of tracks(trace.traceEvents)) {
      const first = list[0].ts!;
      for (let i = 1; i < list.length; i++) {
        const [a, b] = [list[i - 1], list[i]];
        if (a.ts! - first + a.dur! >= b.ts! - first) throw new Error(`${track}: ${a.name} ends at ${a.ts! + a.dur!}, not before ${b.name} begins at ${b.ts}`);
        if (ns(a.ts!) + ns(a.dur!) > ns(b.ts!)) throw new Error(`${track}: ${a.name} ends past ${b.name} in whole ns`);
      }
      for (const s of list) expect(s.dur).toBeGreaterThan(0);
      slices += list.length;
    }
    expect(slices).toBeGreaterThan(1000);
  });

  it('gives every event a category', () => {
    const without = trace.traceEvents.filter((e) => typeof e.cat !== 'string' || e.cat === '');
    expect(without.map((e) => `${e.ph} ${e.name}`).slice(0, 5)).toEqual([]);
    expect(new Set(trace.traceEvents.map((e) => e.ph))).toEqual(expect.objectContaining(new Set(['M', 'X', 'i'])));
  });
});

describe('speedscope', () => {
  let server: Server;
  let browser: Browser;
  let base = '';
  beforeAll(async () => {
    const release = dirname(createRequire(import.meta.url).resolve('speedscope/dist/release/index.html'));
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };
    server = createServer((req, res) => {
      const name = (req.url ?? '/').split(/[?#]/)[0];
      const file = name === '/trace.json' ? path : join(release, name === '/' ? 'index.html' : name.replace(/^\/+/, ''));
      try {
        const body = readFileSync(file);
        res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('imports the trace without a warning', async () => {
    const page = await browser.newPage(PAGE_OPTIONS);
    const complaints: string[] = [];
    page.on('console', (m) => {
      // Chromium's notes on the software GL under speedscope's canvas ("[.WebGL-…] GPU stall") say nothing of the trace.
      if ((m.type() === 'warning' || m.type() === 'error') && !m.text().startsWith('[.WebGL-')) complaints.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => complaints.push(`pageerror: ${e.message}`));
    await page.goto(`${base}/#profileURL=${encodeURIComponent(`${base}/trace.json`)}`);
    // Loaded: speedscope names the window after the profile.
    await expect.poll(() => page.title(), { timeout: 20_000 }).toContain('trace.json');
    expect(complaints.slice(0, 10)).toEqual([]);
    await page.close();
  });
});
