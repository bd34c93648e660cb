/**
 * Where a server's CPU went under load: the top functions of a V8 .cpuprofile (from
 * `LOAD_BENCH_CPU_PROF=DIR`, which runs the service with `node --cpu-prof`), by self time and by
 * total time (self plus callees, each function counted once per sample), and breakdowns by
 * package (node_modules/<name>, src/…, node: internals, GC, idle), by self time and with node
 * internals and native code charged to the nearest package frame above them.
 *
 *   node --import tsx tests/bench/load/cpu-profile.ts FILE.cpuprofile [--last S | --window FROM-TO] [--top N]
 *
 * --last: only the samples of the last S seconds of the profile; --window: only those between FROM
 * and TO seconds after the profile started (the process start: compare with the run's log times
 * to pick one load run; start-up and seeding come before them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

function where(url: string): string {
  if (!url) return '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node: internals';
  const src = /\/(src|tests)\/(.+)$/.exec(url);
  if (src) return `${src[1]}/${src[2]!.split('/').slice(0, -1).join('/') || '.'}`;
  return url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*?\/(src|tests)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

export function summarize(profile: Profile, options: { lastS?: number; window?: [number, number]; top?: number } = {}): string {
  const top = options.top ?? 25;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample times (µs from start).
  const times: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) times.push((t += d));
  const end = times.at(-1) ?? 0;
  const from = options.window ? options.window[0] * 1e6 : options.lastS ? end - options.lastS * 1e6 : -Infinity;
  const to = options.window ? options.window[1] * 1e6 : Infinity;

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const packages = new Map<string, number>();
  // Each sample to the nearest frame (leaf upwards) that is not a node: internal or native: which
  // code caused the work (a socket write under pg counts for pg, under fastify's reply for fastify).
  const causes = new Map<string, number>();
  let counted = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    if (times[i]! < from || times[i]! > to) continue;
    const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    const leaf = byId.get(profile.samples[i]!)!;
    const name = leaf.callFrame.functionName;
    counted += dt;
    if (name === '(idle)') { idle += dt; continue; }
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const pkg = name === '(garbage collector)' ? 'GC' : name === '(program)' ? '(program: V8/native, unattributed)' : where(leaf.callFrame.url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + dt);
    let cause = name === '(garbage collector)' ? 'GC' : name === '(program)' ? '(program: V8/native, unattributed)' : 'node: internals only';
    if (cause === 'node: internals only') {
      for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
        const w = where(byId.get(id)!.callFrame.url);
        if (w !== '(native)' && w !== 'node: internals') { cause = w; break; }
      }
    }
    causes.set(cause, (causes.get(cause) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id)!);
      if (seen.has(l) || l.startsWith('(root)')) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  }
  const busy = counted - idle;
  const pct = (x: number) => `${((x / busy) * 100).toFixed(1)}%`;
  const table = (title: string, m: Map<string, number>, n: number) => [
    `### ${title}`, '', '| share of busy CPU | function |', '|---:|---|',
    ...[...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `| ${pct(v)} | \`${k}\` |`), '',
  ];
  return [
    `Profile window: ${((counted) / 1e6).toFixed(1)} s of samples${options.lastS ? ` (the last ${options.lastS} s)` : ''}, busy ${((busy / counted) * 100).toFixed(0)}% (the rest idle: waiting on sockets and Postgres).`,
    '',
    ...table('By package (self time)', packages, 20),
    ...table('By nearest package frame (self time of node: internals and native code charged to the package that called them)', causes, 25),
    ...table(`Top ${top} functions by self time`, self, top),
    ...table(`Top ${top} functions by total time (self + callees)`, total, top),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { last: { type: 'string' }, window: { type: 'string' }, top: { type: 'string' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: cpu-profile.ts FILE.cpuprofile [--last S | --window FROM-TO] [--top N]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(positionals[0]!, 'utf8')) as Profile;
  const window = values.window?.split('-').map(Number) as [number, number] | undefined;
  process.stdout.write(`${summarize(profile, { ...(values.last ? { lastS: Number(values.last) } : {}), ...(window ? { window } : {}), ...(values.top ? { top: Number(values.top) } : {}) })}\n`);
}
