/**
 * What the bot's start-up code loads (issue 15, item 5: memory). The CLI, the composition root
 * (startBot) and the action registry load no action module, no Kubernetes client and none of the
 * SDKs only actions or provisioning use: those come with an action's first use. Recorded in a
 * fresh child process (the test's own process has loaded everything) by
 * test/support/moduleRecorder: ES modules through a resolve hook, CommonJS ones (and ES modules
 * loaded with require) from require's cache at exit.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RECORDER = join(ROOT, 'test', 'support', 'moduleRecorder', 'recordModules.mjs');
const src = (path: string) => JSON.stringify(pathToFileURL(join(ROOT, 'src', path)).href);

/** Packages only actions (or `sentinel provision`) need, and the embedded backend's interpreter. */
const NOT_AT_START = [
  '@kubernetes/client-node',
  '@aws-sdk/client-ec2',
  '@aws-sdk/client-ssm',
  '@aws-sdk/client-cloudtrail',
  '@aws-sdk/client-auto-scaling',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-iam',
  'aws-local-stepfunctions',
  'tar-stream',
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-startup-modules-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let runs = 0;
/** Runs `script` (an ES module body) under tsx with the recorder; the packages and sentinel source files it loaded. */
async function loadedBy(script: string): Promise<{ packages: Set<string>; sources: string[] }> {
  const file = join(dir, `modules-${(runs += 1)}.txt`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(RECORDER).href, '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SENTINEL_BENCH_MODULES_FILE: file, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, output).toBe(0);
  const packages = new Set<string>();
  const sources: string[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const where = line.replace(/^(esm|cjs) /, '');
    const path = where.startsWith('file:') ? fileURLToPath(where) : where;
    const at = path.lastIndexOf('/node_modules/');
    const pkg = at >= 0 ? /^\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path.slice(at))?.[1] : undefined;
    if (pkg) packages.add(pkg);
    else if (path.startsWith(join(ROOT, 'src') + '/')) sources.push(path.slice(ROOT.length + 'src/'.length));
  }
  return { packages, sources };
}

/** Action modules among sentinel's source files (the registry and the shared types are not actions). */
const actionModules = (sources: string[]) =>
  [...new Set(sources.filter((s) => /^pipeline\/actions\/.+\.ts$/.test(s) && !/\/(registry|types|parseActionInput)\.ts$/.test(s)))].sort();

describe('start-up modules', () => {
  it('the CLI, startBot and the action registry load no action, no Kubernetes client and no forensics SDK', async () => {
    const { packages, sources } = await loadedBy(
      [
        `await import(${src('cli/main.ts')});`,
        `await import(${src('bot/startBot.ts')});`,
        `const { actionRegistry } = await import(${src('pipeline/actions/registry.ts')});`,
        `if (Object.keys(actionRegistry()).length < 20) throw new Error('the registry lost its actions');`,
      ].join('\n'),
    );
    expect(sources).toContain('bot/startBot.ts');
    expect(packages.has('discord.js')).toBe(true);
    expect(actionModules(sources)).toEqual([]);
    expect(NOT_AT_START.filter((p) => packages.has(p))).toEqual([]);
  }, 120_000);

  it('an action loads its module and what it needs on its first use (so the test above can fail)', async () => {
    const { packages, sources } = await loadedBy(
      [`const { actionRegistry } = await import(${src('pipeline/actions/registry.ts')});`, `await actionRegistry()['isolate-pod'].load();`, `await actionRegistry()['isolate-node'].load();`].join('\n'),
    );
    expect(actionModules(sources).map((s) => s.replace(/^.*\//, ''))).toEqual(expect.arrayContaining(['isolatePod.ts', 'isolateNode.ts']));
    expect(packages.has('@kubernetes/client-node')).toBe(true);
    expect(packages.has('@aws-sdk/client-ec2')).toBe(true);
  }, 120_000);
});
