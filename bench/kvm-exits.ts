import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeHostKvm, verdict } from '../src/real-kvm/host-kvm.ts';
import { GUEST_IMAGE, GUEST_SYMBOLS as G } from '../src/real-kvm/guest/image.ts';

/**
 * The kvm backend's exit rate beside a C loop's, in the same run: KVM_EXIT_IO round trips per
 * second on the same guest bytes (exit_loop) and the same VM shape, JavaScript through koffi
 * against C (bench/kvm-exit-loop.c, compiled here with the system's C compiler).
 */

export interface KvmExitBench {
  /** Why the row was not measured (no usable /dev/kvm, no C compiler), or null. */
  skipped: string | null;
  haltlab_exits_per_s: number[];
  c_exits_per_s: number[];
  /** Median over rounds of haltlab / C. */
  ratio: number | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function compiler(): string | null {
  for (const cc of ['cc', 'gcc', 'clang']) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // next
    }
  }
  return null;
}

export async function benchKvmExits(rounds: number, seconds: number, log: (s: string) => void): Promise<KvmExitBench> {
  const none = { haltlab_exits_per_s: [], c_exits_per_s: [], ratio: null };
  const host = probeHostKvm();
  if (!host.usable) return { skipped: verdict(host), ...none };
  const cc = compiler();
  if (!cc) return { skipped: 'no C compiler (cc, gcc or clang) to build the C loop it is measured against', ...none };
  const dir = mkdtempSync(join(tmpdir(), 'haltlab-kvm-exits-'));
  try {
    const exe = join(dir, 'kvm-exit-loop');
    execFileSync(cc, ['-O2', '-o', exe, fileURLToPath(new URL('./kvm-exit-loop.c', import.meta.url))]);
    writeFileSync(join(dir, 'guest.bin'), GUEST_IMAGE);
    const { measureExitRate } = await import('../src/real-kvm/exit-rate.ts');
    const out: KvmExitBench = { skipped: null, haltlab_exits_per_s: [], c_exits_per_s: [], ratio: null };
    for (let r = 1; r <= rounds; r++) {
      log(`kvm exits round ${r}/${rounds}: haltlab… `);
      out.haltlab_exits_per_s.push((await measureExitRate(seconds)).exits_per_s);
      log('C…\n');
      const [exits, secs] = execFileSync(exe, [join(dir, 'guest.bin'), String(G.exit_loop), String(seconds)], { encoding: 'utf8' }).trim().split(' ').map(Number);
      out.c_exits_per_s.push(exits / secs);
    }
    out.ratio = median(out.haltlab_exits_per_s.map((h, i) => h / out.c_exits_per_s[i]));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
