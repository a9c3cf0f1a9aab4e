/**
 * The findings report's charts, as self-contained SVG: grouped horizontal
 * bars (one group per measure, one bar per configuration) and a latency
 * distribution on a log time axis (one line per configuration).
 */

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = ['#3b6fb6', '#e0863a', '#4c9a52', '#b24a8f', '#8a6d3b', '#5aa7b5'];
const r1 = (v: number) => Math.round(v * 10) / 10;

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars, labelled with their values. */
export function barChart(o: { title: string; caption: string; unit: string; bars: Bar[]; format?: (v: number) => string }): string {
  const fmt = o.format ?? ((v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2)));
  const W = 760;
  const rowH = 28;
  const top = 60;
  const left = 230;
  const right = 110;
  const H = top + o.bars.length * rowH + 40;
  const max = Math.max(...o.bars.map((b) => b.value), 1e-9);
  const x = (v: number) => r1(left + (Math.max(0, v) / max) * (W - left - right));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
    `<text x="12" y="40" fill="#555">${esc(o.caption)}</text>`,
  ];
  o.bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${r1(x(b.value) - left)}" height="${rowH - 10}" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x(b.value) + 6}" y="${y + 17}" fill="#222">${esc(`${fmt(b.value)} ${o.unit}`)}</text>`);
  });
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + o.bars.length * rowH}" stroke="#333"/>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface Distribution {
  label: string;
  /** [lower ns, upper ns, count] per bucket. */
  buckets: [number, number, number][];
}

/** Latency distributions: share of samples per log bucket, one line each, on a log time axis. */
export function distributionChart(o: { title: string; caption: string; series: Distribution[]; marks?: { label: string; from_ns: number; to_ns: number }[] }): string {
  const W = 760;
  const H = 420;
  const M = { left: 64, right: 24, top: 60, bottom: 56 };
  const all = o.series.flatMap((s) => s.buckets);
  const lo = Math.max(100, Math.min(...all.map((b) => b[0]), ...(o.marks ?? []).map((m) => m.from_ns)));
  const hi = Math.max(...all.map((b) => b[1]), ...(o.marks ?? []).map((m) => m.to_ns));
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  const shares = o.series.map((s) => {
    const n = s.buckets.reduce((a, b) => a + b[2], 0) || 1;
    return s.buckets.map((b) => [Math.sqrt(b[0] * b[1]), b[2] / n] as const);
  });
  const ymax = Math.max(...shares.flat().map((p) => p[1]), 1e-9) * 1.1;
  const px = (ns: number) => r1(M.left + ((Math.log10(ns) - e0) / (e1 - e0 || 1)) * (W - M.left - M.right));
  const py = (f: number) => r1(H - M.bottom - (f / ymax) * (H - M.top - M.bottom));
  const unit = (ns: number) => (ns >= 1e6 ? `${ns / 1e6} ms` : ns >= 1e3 ? `${ns / 1e3} µs` : `${ns} ns`);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
    `<text x="12" y="40" fill="#555">${esc(o.caption)}</text>`,
  ];
  (o.marks ?? []).forEach((m, i) => {
    out.push(`<rect x="${px(m.from_ns)}" y="${M.top}" width="${r1(px(m.to_ns) - px(m.from_ns))}" height="${H - M.top - M.bottom}" fill="#f3e9c6" opacity="0.7"/>`);
    // Labels one under the other: neighbouring bands are often narrower than their labels.
    out.push(`<text x="${px(m.from_ns) + 3}" y="${M.top + 12 + i * 14}" fill="#7a5d00" font-size="11">${esc(m.label)}</text>`);
  });
  for (let e = e0; e <= e1; e++) {
    out.push(`<line x1="${px(10 ** e)}" y1="${M.top}" x2="${px(10 ** e)}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(10 ** e)}" y="${H - M.bottom + 16}" text-anchor="middle">${unit(10 ** e)}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">share of samples per bucket</text>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 18}" text-anchor="middle">latency (log scale; 8 buckets per power of two)</text>`);
  shares.forEach((pts, i) => {
    const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x)},${py(y)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    out.push(`<rect x="${W - M.right - 200}" y="${M.top + 6 + i * 18}" width="12" height="4" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${W - M.right - 182}" y="${M.top + 12 + i * 18}">${esc(o.series[i].label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
