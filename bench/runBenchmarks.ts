/**
 * `npm run bench`: every benchmark, one after another. The benchmarks are the package's `bench:*`
 * scripts (read from package.json when this starts, so a new one is picked up without a change
 * here), in name order. Each runs as `npm run bench:<name>` with its output shown as it goes, and
 * a summary at the end gives each one's exit status and time. Exits non-zero when any failed; the
 * ones after a failure still run.
 *
 * Options: names to run only those (`npm run bench -- triage click`, with or without `bench:`);
 * --skip a,b to leave some out; --out DIR to also write each benchmark's output to DIR/<name>.txt
 * and the summary to DIR/summary.txt; --list to print the names and stop.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/packageRoot.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { skip: { type: 'string', default: '' }, out: { type: 'string' }, list: { type: 'boolean', default: false } },
});

const ROOT = packageRoot();
const PREFIX = 'bench:';
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
const all = Object.keys(scripts)
  .filter((s) => s.startsWith(PREFIX) && s.length > PREFIX.length)
  .sort();
const bare = (name: string) => (name.startsWith(PREFIX) ? name : PREFIX + name);
const asked = positionals.map(bare);
const unknown = asked.filter((n) => !all.includes(n));
if (unknown.length) {
  console.error(`no such benchmark: ${unknown.join(', ')} (there are: ${all.join(', ')})`);
  process.exit(2);
}
const skipped = new Set(values.skip.split(',').filter((s) => s.trim() !== '').map((s) => bare(s.trim())));
const chosen = (asked.length ? asked : all).filter((n) => !skipped.has(n));
if (values.list) {
  for (const n of all) console.log(`${n}\t${scripts[n]}`);
  process.exit(0);
}
const outDir = values.out === undefined ? undefined : resolve(values.out);
if (outDir) mkdirSync(outDir, { recursive: true });

interface Outcome {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
}

/** Runs one npm script, its output passed through (and kept when --out asks for it). */
function run(name: string): Promise<Outcome> {
  const started = Date.now();
  const kept: Buffer[] = [];
  return new Promise((done) => {
    const child = spawn('npm', ['run', '--silent', name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => {
      process.stdout.write(b);
      if (outDir) kept.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      process.stderr.write(b);
      if (outDir) kept.push(b);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (outDir) writeFileSync(join(outDir, `${name.slice(PREFIX.length)}.txt`), Buffer.concat(kept));
      done({ name, code, signal, seconds: (Date.now() - started) / 1000 });
    };
    child.on('error', (err) => {
      process.stderr.write(`${name}: could not start npm: ${err.message}\n`);
      finish(127, null);
    });
    child.on('close', finish);
  });
}

// A Ctrl-C reaches the running benchmark (same process group); stop after it rather than start the next.
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});

const outcomes: Outcome[] = [];
for (const name of chosen) {
  if (interrupted) break;
  console.log(`\n=== ${name}: ${scripts[name]}`);
  outcomes.push(await run(name));
}

const failed = outcomes.filter((o) => o.code !== 0);
const notRun = chosen.slice(outcomes.length);
const lines = [
  '',
  '=== summary',
  ...outcomes.map((o) => `${o.code === 0 ? 'ok    ' : 'FAILED'} ${o.name} (${o.seconds.toFixed(0)} s${o.code === 0 ? '' : o.signal ? `, ${o.signal}` : `, exit ${o.code}`})`),
  ...notRun.map((n) => `not run ${n} (interrupted)`),
  `${outcomes.length - failed.length} of ${chosen.length} passed`,
];
console.log(lines.join('\n'));
if (outDir) writeFileSync(join(outDir, 'summary.txt'), `${lines.join('\n').trimStart()}\n`);
process.exit(failed.length || notRun.length ? 1 : 0);
