import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { KVM_PARAMS } from '../host/kvm/params.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { LiveSampler, type Frame } from './telemetry.ts';
import type { DemoSession } from './session.ts';
import { intervalKnob } from '../scenarios/interval.ts';

/**
 * The demo's web server: the page, a Server-Sent Events stream of frames
 * (FRAME_MS apart), and POST /control. Local only: it listens on 127.0.0.1,
 * and refuses any request not from a loopback address or not addressed to a
 * loopback host name (a web page elsewhere cannot reach it by DNS rebinding).
 */

export const FRAME_MS = 50;
/** The wake-latency histogram spans the last second. */
const WINDOW_FRAMES = 1000 / FRAME_MS;

const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface LiveFrame extends Frame {
  boot: number;
  config: DemoConfig;
}

export interface DemoConfig {
  scenario: string;
  workload: string;
  vcpus: number;
  pcpus: number;
  kvm: Record<string, number>;
  kvm_cap_halt_poll: number | null;
  guest_idle: string;
  /** The workload's interval in µs, or null when it has none. */
  interval_us: number | null;
}

export function demoConfig(s: Scenario): DemoConfig {
  const w = s.workload as { kind: string } & Record<string, unknown>;
  const knob = intervalKnob(w.kind);
  return {
    scenario: s.name,
    workload: w.kind,
    vcpus: s.vm.vcpus,
    pcpus: s.host.pcpus,
    kvm: Object.fromEntries(KVM_PARAMS.map((p) => [p.name, s.host.kvm[p.name] ?? p.default])),
    kvm_cap_halt_poll: s.host.kvm_cap_halt_poll,
    guest_idle: s.guest.idle,
    interval_us: knob ? Number(w[knob]) / 1000 : null,
  };
}

const page = (file: string) => readFileSync(new URL(`./page/${file}`, import.meta.url), 'utf8');
const vendor = (file: string) => readFileSync(createRequire(import.meta.url).resolve(file), 'utf8');

export interface DemoServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function startDemoServer(session: DemoSession, port: number): Promise<DemoServer> {
  const assets: Record<string, [string, string]> = {
    '/': [page('index.html'), 'text/html; charset=utf-8'],
    '/app.js': [page('app.js'), 'text/javascript; charset=utf-8'],
    '/style.css': [page('style.css'), 'text/css; charset=utf-8'],
    '/vendor/uPlot.js': [vendor('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    '/vendor/uPlot.css': [vendor('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  };

  // One sampler for every open page, restarted when the VM reboots.
  const listeners = new Set<(f: LiveFrame) => void>();
  let sampler: { vm: unknown; s: LiveSampler } | null = null;
  const tick = setInterval(() => {
    const vm = session.vm;
    if (!vm || listeners.size === 0) return;
    if (sampler?.vm !== vm) sampler = { vm, s: new LiveSampler(vm, WINDOW_FRAMES) };
    const frame: LiveFrame = { ...sampler.s.sample(), boot: session.boots, config: demoConfig(session.config) };
    for (const l of listeners) l(frame);
  }, FRAME_MS);

  const app = new Hono();
  app.use(async (c, next) => {
    const remote = getConnInfo(c).remote.address ?? '';
    const host = (c.req.header('host') ?? '').replace(/:\d+$/, '');
    if (!LOOPBACK_ADDRESSES.has(remote) || !LOOPBACK_HOSTS.has(host)) return c.text('haltlab demo: local connections only\n', 403);
    await next();
  });
  for (const [path, [body, type]] of Object.entries(assets)) app.get(path, (c) => c.body(body, 200, { 'content-type': type, 'cache-control': 'no-store' }));
  app.get('/config', (c) => c.json({ config: demoConfig(session.config), boot: session.boots, kvm_params: KVM_PARAMS }));
  app.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      let pending: Promise<void> = Promise.resolve();
      const send = (f: LiveFrame) => {
        // One write at a time; a slow page skips frames rather than queueing them.
        pending = pending.then(() => stream.writeSSE({ event: 'frame', data: JSON.stringify(f) })).catch(() => {});
      };
      listeners.add(send);
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      listeners.delete(send);
    }),
  );
  app.post('/control', async (c) => {
    if (!(c.req.header('content-type') ?? '').startsWith('application/json')) return c.json({ ok: false, error: 'send the control as application/json' }, 415);
    let message: unknown;
    try {
      message = await c.req.json();
    } catch {
      return c.json({ ok: false, error: 'the body is not JSON' }, 400);
    }
    const answer = await session.control(message);
    return answer.ok ? c.json({ ok: true, effect: answer.effect, config: demoConfig(answer.scenario) }) : c.json(answer, 400);
  });

  return new Promise((resolve, reject) => {
    let server: ServerType | undefined = undefined;
    const onError = (e: NodeJS.ErrnoException) => {
      clearInterval(tick);
      reject(e.code === 'EADDRINUSE' ? new Error(`port ${port} on 127.0.0.1 is in use: choose another with --port, or --port 0 for a free one`) : e);
    };
    server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
      server!.off('error', onError);
      resolve({
        url: `http://127.0.0.1:${info.port}/`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            clearInterval(tick);
            listeners.clear();
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
            server!.close(() => done());
          }),
      });
    });
    server.on('error', onError);
  });
}
