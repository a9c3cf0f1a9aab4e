import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { KVM_PARAMS } from '../host/kvm/params.ts';
import { LiveSampler, type Frame } from './telemetry.ts';
import type { DemoSession, Mark } from './session.ts';
import { applyOverrides, knobPath } from '../scenarios/overrides.ts';
import { GUEST_IDLE_MODES, parseScenario, ScenarioError, type ScenarioInput } from '../scenarios/schema.ts';
import { demoConfig, type DemoConfig } from './config.ts';
import { sessionDocument } from './summary.ts';

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
  /** Seconds since the demo started (frame.t restarts at each boot). */
  session_t: number;
  /** Marks made since the previous frame: knob changes, reboots, pauses. */
  marks: Mark[];
}

/**
 * The guest idle loops the page offers, each with whether this scenario can
 * boot it and, if not, why (the schema's own words): all are listed, none
 * hidden, so that a missing one is never a mystery.
 */
export function guestIdleModes(input: ScenarioInput): { mode: string; ok: boolean; why: string }[] {
  return GUEST_IDLE_MODES.map((mode) => {
    try {
      parseScenario(applyOverrides(input, [{ knob: 'idle', path: knobPath('idle'), value: mode }]));
      return { mode, ok: true, why: '' };
    } catch (e) {
      if (e instanceof ScenarioError) return { mode, ok: false, why: e.issues.join('; ') };
      throw e;
    }
  });
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
  let marksSent = session.marks.length;
  const tick = setInterval(() => {
    const vm = session.vm;
    if (!vm || listeners.size === 0) return;
    if (sampler?.vm !== vm) sampler = { vm, s: new LiveSampler(vm, WINDOW_FRAMES) };
    const marks = session.marks.slice(marksSent);
    marksSent = session.marks.length;
    const frame: LiveFrame = { ...sampler.s.sample(), boot: session.boots, config: demoConfig(session.config), session_t: session.elapsedS(), marks };
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
  app.get('/config', (c) => c.json({ config: demoConfig(session.config), boot: session.boots, kvm_params: KVM_PARAMS, guest_idle_modes: guestIdleModes(session.config) }));
  // The session so far, as the command line saves it at the end: one segment per configuration, pauses left out.
  app.get('/session.json', (c) => {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    return c.body(`${JSON.stringify(sessionDocument(session.summary(), null), null, 2)}\n`, 200, {
      'content-type': 'application/json; charset=utf-8',
      'content-disposition': `attachment; filename="haltlab-demo-${session.config.name}-${stamp}.json"`,
      'cache-control': 'no-store',
    });
  });
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
