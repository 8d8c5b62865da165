/**
 * `npm run bench:triage`: triage throughput against a bare JSON.parse of the
 * same bytes, measured in the same run. Prints events/s for both and the ratio.
 * Each round is timed twice: by the clock, and by the CPU time this process used
 * (process.cpuUsage), which time spent waiting for a core on a busy machine does
 * not count; the best round of each counts.
 * Options: --events N (default 100000), --rounds R (default 5).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/packageRoot.js';
import { loadPlaybookConfig } from '../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../src/pipeline/triage/triageEvent.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } } });
const count = Number(values.events);
const rounds = Number(values.rounds);

const dir = join(packageRoot(), 'test', 'fixtures', 'events');
let samples: string[];
try {
  samples = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.stringify(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
} catch {
  samples = [];
}
// Mixed events: the samples plus variants (other IPs, pods, long command lines, junk), so caches cannot help.
function variant(i: number): string {
  const base = samples.length ? samples[i % samples.length]! : '{"falco":{"log":"2026-11-20T03:14:07Z: Warning PRJ_EXEC_RECON proc=id cmdline=id user=root container=c pod=p ns=n"}}';
  const ip = `203.0.${(i >> 8) & 255}.${i & 255}`;
  let s = base.replaceAll('203.0.113.45', ip).replaceAll('dvwa-6d8f7c9b4-x2x9k', `dvwa-${i % 997}`);
  if (i % 50 === 0) s = s.replace('cmdline=whoami', `cmdline=${'A'.repeat(2000)}`);
  if (i % 101 === 0) s = '{"not":"an event"}';
  return s;
}
const lines = Array.from({ length: count }, (_, i) => variant(i));
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
const config = loadPlaybookConfig();

/** Seconds taken by the clock and in CPU time (user and system). */
function time(fn: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

let sink = 0;
const parseOnly = () => {
  for (const l of lines) sink += (JSON.parse(l) as object) ? 1 : 0;
};
const triage = () => {
  for (const l of lines) {
    const o = triageEvent(JSON.parse(l), config);
    sink += o.ok ? 1 : 0;
  }
};
// Warm up both, then alternate rounds so both see the same machine state.
parseOnly();
triage();
const best = { parse: { wall: Infinity, cpu: Infinity }, triage: { wall: Infinity, cpu: Infinity } };
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of [['parse', parseOnly], ['triage', triage]] as const) {
    const t = time(fn);
    best[name].wall = Math.min(best[name].wall, t.wall);
    best[name].cpu = Math.min(best[name].cpu, t.cpu);
  }
}
const rate = (seconds: number) => Math.round(count / seconds).toLocaleString('en-US');
console.log(`events: ${count} (${(bytes / 1e6).toFixed(1)} MB, ${samples.length} samples and variants), best of ${rounds} rounds; load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
console.log(`                      by the clock          by CPU time`);
console.log(`JSON.parse only:      ${rate(best.parse.wall).padStart(9)} events/s    ${rate(best.parse.cpu).padStart(9)} events/s`);
console.log(`JSON.parse + triage:  ${rate(best.triage.wall).padStart(9)} events/s    ${rate(best.triage.cpu).padStart(9)} events/s`);
console.log(`ratio: ${(best.parse.wall / best.triage.wall).toFixed(2)}x of JSON.parse by the clock, ${(best.parse.cpu / best.triage.cpu).toFixed(2)}x by CPU time (target >= 0.50x)`);
if (sink < 0) console.log(sink);
