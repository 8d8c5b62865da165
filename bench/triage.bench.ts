/**
 * `npm run bench:triage`: triage throughput against a bare JSON.parse of the
 * same bytes, measured in the same run. Prints events/s for both and the ratio.
 * Options: --events N (default 100000), --rounds R (default 5; best round counts).
 */
import { readFileSync, readdirSync } from 'node:fs';
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

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
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
let bestParse = Infinity;
let bestTriage = Infinity;
for (let r = 0; r < rounds; r++) {
  bestParse = Math.min(bestParse, time(parseOnly));
  bestTriage = Math.min(bestTriage, time(triage));
}
const parseRate = count / bestParse;
const triageRate = count / bestTriage;
console.log(`events: ${count} (${(bytes / 1e6).toFixed(1)} MB, ${samples.length} samples and variants), best of ${rounds} rounds`);
console.log(`JSON.parse only:      ${Math.round(parseRate).toLocaleString('en-US')} events/s`);
console.log(`JSON.parse + triage:  ${Math.round(triageRate).toLocaleString('en-US')} events/s`);
console.log(`ratio: ${(triageRate / parseRate).toFixed(2)}x of JSON.parse (target >= 0.50x)`);
if (sink < 0) console.log(sink);
