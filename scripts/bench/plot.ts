/**
 * Plots and raw data of `npm run bench`, next to bench-out/bench.json: the distributions behind the headline
 * figures (every output hold sample, the record overhead at each call density) as CSV for one's own tools and
 * as SVG line charts to look at. No dependencies: an SVG chart is a few paths and labels.
 *
 * lineChart draws series of (x, y) points on linear or logarithmic axes, with optional reference lines (a
 * target). Points that cannot be drawn (NaN, infinite, or not positive on a log axis) are left out, and a
 * series left with no point is listed in the legend as having no data, so a chart never lies by omission.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeMarkup } from '../../engine/node/markup.ts';

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly logX?: boolean;
  /** Horizontal reference lines (a target ratio). */
  readonly hLines?: ReadonlyArray<{ readonly y: number; readonly label: string }>;
  /** Vertical reference lines (a target latency). */
  readonly vLines?: ReadonlyArray<{ readonly x: number; readonly label: string }>;
}

const W = 760;
const H = 440;
const M = { left: 70, right: 200, top: 40, bottom: 56 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e7) return String(v);
  if (a >= 1e7 || a < 0.01) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function linearTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Powers of ten covering [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/** The empirical CDF of samples: (value, fraction of samples <= value), one point per sample, sorted. */
export function cdf(samples: readonly number[]): Array<[number, number]> {
  const s = samples.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return s.map((v, i) => [v, (i + 1) / s.length]);
}

/** An SVG line chart of the series (see the module comment). */
export function lineChart(series: readonly Series[], o: ChartOptions): string {
  const drawable = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0);
  const kept = series.map((s) => ({ name: s.name, points: s.points.filter(([x, y]) => drawable(x, y)) }));
  const xs = kept.flatMap((s) => s.points.map((p) => p[0])).concat((o.vLines ?? []).map((l) => l.x).filter((x) => drawable(x, 0)));
  const ys = kept.flatMap((s) => s.points.map((p) => p[1])).concat((o.hLines ?? []).map((l) => l.y).filter(Number.isFinite));
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [o.logX ? 1 : 0, o.logX ? 10 : 1];
  let [y0, y1] = ys.length ? [Math.min(0, ...ys), Math.max(...ys)] : [0, 1];
  if (o.logX) {
    x0 = 10 ** Math.floor(Math.log10(x0));
    x1 = 10 ** Math.ceil(Math.log10(x1 === x0 ? x0 * 10 : x1));
  } else if (x1 === x0) {
    x1 = x0 + 1;
  }
  if (y1 === y0) y1 = y0 + 1;
  y1 += (y1 - y0) * 0.05;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + (o.logX ? (Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const r = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeMarkup(o.title)}</text>`);
  // Axes and ticks.
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  for (const t of o.logX ? logTicks(x0, x1) : linearTicks(x0, x1)) {
    if (t < x0 || t > x1) continue;
    parts.push(`<line x1="${r(sx(t))}" y1="${M.top}" x2="${r(sx(t))}" y2="${M.top + ph}" stroke="#ddd"/>`);
    parts.push(`<text class="xtick" x="${r(sx(t))}" y="${M.top + ph + 16}" text-anchor="middle">${escapeMarkup(fmt(t))}</text>`);
  }
  for (const t of linearTicks(y0, y1)) {
    if (t < y0 || t > y1) continue;
    parts.push(`<line x1="${M.left}" y1="${r(sy(t))}" x2="${M.left + pw}" y2="${r(sy(t))}" stroke="#ddd"/>`);
    parts.push(`<text class="ytick" x="${M.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end">${escapeMarkup(fmt(t))}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">${escapeMarkup(o.xLabel)}</text>`);
  parts.push(`<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">${escapeMarkup(o.yLabel)}</text>`);
  // Reference lines.
  for (const l of o.hLines ?? []) {
    if (!Number.isFinite(l.y)) continue;
    parts.push(`<line class="ref" x1="${M.left}" y1="${r(sy(l.y))}" x2="${M.left + pw}" y2="${r(sy(l.y))}" stroke="#888" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${M.left + pw - 4}" y="${r(sy(l.y) - 5)}" text-anchor="end" fill="#555">${escapeMarkup(l.label)}</text>`);
  }
  for (const l of o.vLines ?? []) {
    if (!drawable(l.x, 0)) continue;
    parts.push(`<line class="ref" x1="${r(sx(l.x))}" y1="${M.top}" x2="${r(sx(l.x))}" y2="${M.top + ph}" stroke="#888" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${r(sx(l.x) + 4)}" y="${M.top + 14}" fill="#555">${escapeMarkup(l.label)}</text>`);
  }
  // Series and legend.
  kept.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (s.points.length > 0) {
      const d = s.points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${r(sx(x))} ${r(sy(y))}`).join(' ');
      parts.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
      if (s.points.length <= 20) for (const [x, y] of s.points) parts.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3" fill="${color}"/>`);
    }
    const ly = M.top + 10 + i * 18;
    parts.push(`<line x1="${M.left + pw + 12}" y1="${ly}" x2="${M.left + pw + 32}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text class="legend" x="${M.left + pw + 38}" y="${ly + 4}">${escapeMarkup(s.points.length ? s.name : `${s.name} (no data)`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** CSV (RFC 4180): fields with a comma, quote or line break are quoted, quotes doubled. */
export function toCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const field = (v: string | number) => {
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

const root = new URL('../../', import.meta.url).pathname;

/** Files written by writeBenchFile in this run (main.ts lists them at the end). */
export const writtenBenchFiles: string[] = [];

/** Writes bench-out/NAME (creating the directory); returns its path. */
export function writeBenchFile(name: string, content: string): string {
  const dir = join(root, 'bench-out');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, content);
  writtenBenchFiles.push(`bench-out/${name}`);
  return path;
}
