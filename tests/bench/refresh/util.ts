/** Small helpers shared by the refresh benchmark's parent and service processes. */
import os from 'node:os';

export const now = (): bigint => process.hrtime.bigint();
export const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

export function log(message: string): void {
  process.stderr.write(`[refresh-bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10_000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined ? 'n/a' : n.toLocaleString('en-US'));
export const fmtMiB = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? 'n/a' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
export const fmtRatio = (r: number | null | undefined): string => (r === null || r === undefined || !Number.isFinite(r) ? 'n/a' : `${r.toFixed(2)}×`);

/** `1000000` → `1m`, `100000` → `100k`: a short tag for names. */
export function sizeTag(n: number): string {
  if (n % 1_000_000 === 0) return `${n / 1_000_000}m`;
  if (n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' / ');
}

/**
 * Samples this process's resident set size every `intervalMs` (50 ms) until stopped; `max` also
 * takes the value at start and stop, so a refresh shorter than one interval is still covered.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  readonly before: number;
  max: number;
  samples = 0;

  constructor(private readonly intervalMs = 50) {
    this.before = process.memoryUsage.rss();
    this.max = this.before;
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    this.samples++;
    if (rss > this.max) this.max = rss;
  }

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): { before: number; max: number; after: number; samples: number; maxRssKernel: number } {
    clearInterval(this.timer);
    this.sample();
    const after = process.memoryUsage.rss();
    // ru_maxrss (KiB): the kernel's high-water mark since the process started (startup included).
    return { before: this.before, max: this.max, after, samples: this.samples, maxRssKernel: process.resourceUsage().maxRSS * 1024 };
  }
}

/** Where time went inside one transaction: a label per statement. */
export interface StatementTiming {
  step: string;
  ms: number;
  rows?: number;
}
