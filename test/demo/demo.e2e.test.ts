import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, PAGE_OPTIONS } from '../support/chromium.ts';

// The live demo end to end: `haltlab demo` as a user starts it, its page in real headless
// Chromium (test/support/chromium.ts finds one), the page's own controls.

const BIN = new URL('../../bin/haltlab.mjs', import.meta.url).pathname;

let demo: ChildProcess;
let exited: Promise<number | null>;
let url = '';
let stderr = '';
let browser: Browser;
let page: Page;
const dir = mkdtempSync(join(tmpdir(), 'haltlab-demo-'));
const results = join(dir, 'results.json');

const cell = (vcpu: number, stat: string) => page.locator(`td[data-vcpu="${vcpu}"][data-stat="${stat}"]`);
const count = async (vcpu: number, stat: string) => Number((await cell(vcpu, stat).textContent())!.replaceAll(',', ''));
const columns = async (thread: string) => Number(await page.locator(`[data-thread="${thread}"]`).getAttribute('data-columns'));

beforeAll(async () => {
  // A 40 µs device gap: each vCPU's halts are short enough for KVM to grow a polling window.
  demo = spawn(process.execPath, [BIN, 'demo', 'irq-wake', '--vcpus', '2', '--interval', '40', '--port', '0', '--json', results], { stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stderr!.on('data', (d) => (stderr += d));
  exited = new Promise((r) => demo.on('exit', (code) => r(code)));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    demo.stdout!.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`haltlab demo exited (${code}) before serving:\n${stderr}`)));
  });
  browser = await launchChromium();
  page = await browser.newPage({ ...PAGE_OPTIONS, viewport: { width: 1280, height: 900 } });
  await page.goto(url);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) demo.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('haltlab demo', () => {
  it('serves the page, whose strips and counters move', async () => {
    await expect.poll(() => columns('vcpu0'), { timeout: 10_000 }).toBeGreaterThan(10);
    await expect.poll(() => columns('iothread0')).toBeGreaterThan(10);
    const before = { strips: await columns('vcpu1'), halts: await count(0, 'halt_exits') };
    await page.waitForTimeout(600);
    // At least 10 frames a second: 600 ms is 6 or more new columns (allow for a slow 2-core machine).
    expect(await columns('vcpu1')).toBeGreaterThanOrEqual(before.strips + 4);
    expect(await count(0, 'halt_exits')).toBeGreaterThan(before.halts);
    expect(Number(await page.locator('#percentiles').getAttribute('data-count'))).toBeGreaterThan(0);
  });

  it('lays itself out within the window, at 1280 px and narrower or wider', async () => {
    for (const width of [1280, 900, 1700, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(200);
      // Measured in the page (a string: the tests compile without the DOM's types).
      const fit: { page: number; sections: [string, number][]; table: { scroll: number; client: number }; pollCell: number } = await page.evaluate(`({
        page: document.documentElement.scrollWidth,
        sections: [...document.querySelectorAll('section')].map((s) => [s.id, Math.ceil(s.getBoundingClientRect().right)]),
        table: { scroll: document.querySelector('#counters .scroll').scrollWidth, client: document.querySelector('#counters .scroll').clientWidth },
        pollCell: Math.ceil(document.querySelector('td[data-stat="halt_poll_ns"]').getBoundingClientRect().right),
      })`);
      expect(fit.page, `page at ${width} px`).toBeLessThanOrEqual(width);
      for (const [id, right] of fit.sections) expect(right, `#${id} at ${width} px`).toBeLessThanOrEqual(width);
      expect(fit.table.scroll, `counters at ${width} px`).toBeLessThanOrEqual(fit.table.client);
      expect(fit.pollCell).toBeLessThanOrEqual(width);
    }
    // Two columns at 1280 px: the trend chart beside the strips; one column at 900 px.
    const top = async (id: string) => (await page.locator(`#${id}`).boundingBox())!.y;
    expect(Math.abs((await top('trend')) - (await top('timeline')))).toBeLessThan(5);
  });

  it('has a time axis under the strips and a chart of latency and CPU with values on hover', async () => {
    await expect.poll(() => page.locator('#time-axis').getAttribute('data-latest-second'), { timeout: 5_000 }).toMatch(/^\d+$/);
    await expect.poll(() => page.locator('#trend-chart').getAttribute('data-points').then(Number)).toBeGreaterThan(10);
    const over = page.locator('#trend-chart .u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width - 10, box.y + box.height / 2);
    const values = page.locator('#trend-chart .u-legend .u-value');
    await expect.poll(() => values.allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/ s$/), expect.stringMatching(/ µs$/), expect.stringMatching(/ %$/)]));
    const strip = (await page.locator('[data-thread="vcpu0"] canvas').boundingBox())!;
    await page.mouse.move(strip.x + strip.width - 4, strip.y + strip.height / 2);
    await expect.poll(() => page.locator('#strip-tip').textContent()).toMatch(/^vcpu0 at [\d.]+ s: .*% CPU$/);
    await page.mouse.move(0, 0);
  });

  it('changes halt_poll_ns from the page with Enter, marks it, and the vCPUs stop polling', async () => {
    await expect.poll(() => count(0, 'halt_attempted_poll'), { timeout: 5_000 }).toBeGreaterThan(0); // the default polls
    await page.fill('#kvm-halt_poll_ns', '0');
    await page.press('#kvm-halt_poll_ns', 'Enter');
    await expect.poll(() => page.locator('#control-status').textContent()).toContain('applied');
    await expect.poll(() => page.locator('#marks li').allTextContents()).toEqual([expect.stringMatching(/s · halt_poll_ns=0$/)]);
    // Each vCPU's window follows the new ceiling at its next halt...
    for (const id of [0, 1]) await expect.poll(() => count(id, 'halt_poll_ns'), { timeout: 5_000 }).toBe(0);
    // ...and no halt polls any more, while halts go on (once the frames on the page have caught up).
    await page.waitForTimeout(300);
    const attempted = await count(0, 'halt_attempted_poll');
    const halts = await count(0, 'halt_exits');
    await page.waitForTimeout(700);
    expect(await count(0, 'halt_exits')).toBeGreaterThan(halts);
    expect(await count(0, 'halt_attempted_poll')).toBe(attempted);
  });

  it('refuses a bad control value and changes nothing', async () => {
    for (const bad of ['fast', '-5', '1.5']) {
      await page.fill('#kvm-halt_poll_ns', bad);
      await page.click('button[data-apply="halt_poll_ns"]');
      await expect.poll(() => page.locator('#control-status').getAttribute('class')).toBe('error');
      await expect(page.locator('#control-status').textContent()).resolves.toMatch(/refused: .*halt_poll_ns/);
      await expect(page.locator('#kvm-halt_poll_ns-now').textContent()).resolves.toBe('now 0');
      await page.fill('#kvm-halt_poll_ns', '0'); // and the next message starts from a clean status
      await page.click('button[data-apply="halt_poll_ns"]');
      await expect.poll(() => page.locator('#control-status').getAttribute('class')).toBe('ok');
    }
    expect(await count(0, 'halt_poll_ns')).toBe(0);
  });

  it('offers every guest idle loop, mwait included, and marks the reboot one causes', async () => {
    const options = await Promise.all((await page.locator('#guest-idle option').all()).map(async (o) => [await o.getAttribute('value'), await o.isDisabled()]));
    expect(options).toEqual([
      ['halt', false],
      ['poll', false],
      ['haltpoll', false],
      ['mwait', false],
    ]);
    await page.selectOption('#guest-idle', 'halt');
    await page.click('#idle-form button');
    await expect.poll(() => page.locator('#control-status').textContent(), { timeout: 10_000 }).toContain('rebooted');
    await expect.poll(() => page.locator('#marks li[data-kind="reboot"]').count()).toBe(1);
    await expect.poll(() => count(1, 'injections_per_s'), { timeout: 10_000 }).toBeGreaterThan(0); // the new boot runs
  });

  it('pauses and resumes the VM', async () => {
    await page.click('#pause');
    await expect.poll(() => page.locator('#run-line').textContent()).toContain('PAUSED');
    await page.waitForTimeout(300);
    const injected = await count(1, 'injections_per_s');
    const strips = await columns('vcpu1');
    await page.waitForTimeout(300);
    expect(injected).toBe(0);
    expect(await columns('vcpu1')).toBeGreaterThan(strips); // the page still follows the stopped VM
    await page.click('#pause');
    await expect.poll(() => count(1, 'injections_per_s'), { timeout: 5_000 }).toBeGreaterThan(0);
    const kinds = async () => Promise.all((await page.locator('#marks li').all()).map((l) => l.getAttribute('data-kind')));
    await expect.poll(kinds).toEqual(['resume', 'pause', 'reboot', 'knob']);
  });

  it('downloads the session so far, a segment per configuration, the pause left out', async () => {
    await page.waitForTimeout(500);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toMatch(/^haltlab-demo-irq-wake-.*\.json$/);
    const doc = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(doc.stopped_by).toBeNull();
    expect(doc.segments.map((g: { started_by: string }) => g.started_by)).toEqual(['boot', 'halt_poll_ns=0', 'reboot: guest idle=halt']);
    expect(doc.segments.map((g: { config: { kvm: { halt_poll_ns: number } } }) => g.config.kvm.halt_poll_ns)).toEqual([200_000, 0, 0]);
    const last = doc.segments[2];
    expect(last.paused_s).toBeGreaterThan(0.2);
    expect(last.running_s + last.paused_s).toBeCloseTo(last.to_s - last.from_s, 1);
    expect(doc.marks.map((m: { kind: string }) => m.kind)).toEqual(['knob', 'reboot', 'pause', 'resume']);
  });

  it('answers local connections only', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      request({ host: '127.0.0.1', port: u.port, path: '/config', headers: { host: 'haltlab.example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
  });

  it('stops the VM, its threads and the server on SIGTERM, and saves the session summary', async () => {
    if (process.env.HALTLAB_SCREENSHOT) {
      // For the README: after a few more seconds, so the chart and strips show the changes behind them.
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.waitForTimeout(3_000);
      await page.screenshot({ path: process.env.HALTLAB_SCREENSHOT, fullPage: true });
    }
    demo.kill('SIGTERM');
    expect(await exited).toBe(0);
    const doc = JSON.parse(readFileSync(results, 'utf8'));
    expect(doc.stopped_by).toBe('SIGTERM');
    expect(doc.segments).toHaveLength(3);
    expect(doc.segments.at(-1).config.kvm.halt_poll_ns).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});
