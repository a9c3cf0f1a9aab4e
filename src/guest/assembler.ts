import type { GuestProgram, Insn, Reg, SampleChannel } from './isa.ts';

type Pending = Insn | { op: 'jmp'; label: string } | { op: 'jnz'; rs: Reg; label: string };

/** Builds a GuestProgram with labels; jumps and handlers are resolved at assemble(). */
export class Assembler {
  private readonly code: Pending[] = [];
  private readonly labels = new Map<string, number>();
  private readonly handlers = new Map<number, string>();

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.code.length);
    return this;
  }
  /** Install `label` as the handler of interrupt `vector`. */
  handler(vector: number, label: string): this {
    this.handlers.set(vector, label);
    return this;
  }
  compute(ns: number): this {
    return this.emit({ op: 'compute', ns });
  }
  hlt(): this {
    return this.emit({ op: 'hlt' });
  }
  wfi(): this {
    return this.emit({ op: 'wfi' });
  }
  wfe(): this {
    return this.emit({ op: 'wfe' });
  }
  monitor(ra: Reg): this {
    return this.emit({ op: 'monitor', ra });
  }
  mwait(): this {
    return this.emit({ op: 'mwait' });
  }
  /** st r[rs] at guest address r[ra]. */
  st(ra: Reg, rs: Reg): this {
    return this.emit({ op: 'st', ra, addr: 0, rs });
  }
  rdpid(rd: Reg): this {
    return this.emit({ op: 'rdpid', rd });
  }
  shli(rd: Reg, rs: Reg, imm: number): this {
    return this.emit({ op: 'shli', rd, rs, imm });
  }
  cpuidle(): this {
    return this.emit({ op: 'cpuidle' });
  }
  pause(): this {
    return this.emit({ op: 'pause' });
  }
  sti(): this {
    return this.emit({ op: 'sti' });
  }
  cli(): this {
    return this.emit({ op: 'cli' });
  }
  eoi(): this {
    return this.emit({ op: 'eoi' });
  }
  iret(): this {
    return this.emit({ op: 'iret' });
  }
  rdtsc(rd: Reg): this {
    return this.emit({ op: 'rdtsc', rd });
  }
  movi(rd: Reg, imm: number): this {
    return this.emit({ op: 'movi', rd, imm });
  }
  addi(rd: Reg, rs: Reg, imm: number): this {
    return this.emit({ op: 'addi', rd, rs, imm });
  }
  sub(rd: Reg, ra: Reg, rb: Reg): this {
    return this.emit({ op: 'sub', rd, ra, rb });
  }
  wrmsr(msr: number, rs: Reg): this {
    return this.emit({ op: 'wrmsr', msr, rs });
  }
  setNextEvent(rs: Reg): this {
    return this.emit({ op: 'set_next_event', rs });
  }
  sample(channel: SampleChannel, rs: Reg): this {
    return this.emit({ op: 'sample', channel, rs });
  }
  out(port: number, rs: Reg): this {
    return this.emit({ op: 'out', port, rs });
  }
  cmpxchg(rd: Reg, addr: number, ra: Reg, rs: Reg): this {
    return this.emit({ op: 'cmpxchg', rd, addr, ra, rs });
  }
  xadd(rd: Reg, addr: number, rs: Reg): this {
    return this.emit({ op: 'xadd', rd, addr, rs });
  }
  /** ld at an absolute address in shared guest RAM (the one ld op, no base register). */
  ldAt(rd: Reg, addr: number): this {
    return this.emit({ op: 'ld', rd, addr });
  }
  /** ld from guest address r[ra]. */
  ld(rd: Reg, ra: Reg): this {
    return this.emit({ op: 'ld', rd, ra, addr: 0 });
  }
  /** st at an absolute address in shared guest RAM (the one st op, no base register). */
  stAt(addr: number, rs: Reg): this {
    return this.emit({ op: 'st', addr, rs });
  }
  jmp(label: string): this {
    this.code.push({ op: 'jmp', label });
    return this;
  }
  jnz(rs: Reg, label: string): this {
    this.code.push({ op: 'jnz', rs, label });
    return this;
  }

  assemble(name: string, entry = 'entry', extra: Pick<GuestProgram, 'haltpoll' | 'clockevent'> = {}): GuestProgram {
    const at = (label: string) => {
      const pc = this.labels.get(label);
      if (pc === undefined) throw new Error(`${name}: undefined label ${label}`);
      return pc;
    };
    const code = this.code.map((i): Insn => (!('label' in i) ? i : i.op === 'jnz' ? { op: 'jnz', rs: i.rs, to: at(i.label) } : { op: 'jmp', to: at(i.label) }));
    const idt = Object.fromEntries([...this.handlers].map(([v, l]) => [v, at(l)]));
    return { name, code, entry: at(entry), idt, ...extra };
  }

  private emit(i: Insn): this {
    this.code.push(i);
    return this;
  }
}
