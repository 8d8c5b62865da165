/**
 * `npm run bench:memory`: the bot's resident memory (RSS) when idle, beside a plain Node process
 * that loads nothing, measured in the same run.
 *
 * The bot runs as production runs it (`node bin/sentinel start`, the compiled build) in a child
 * process, against moto (AWS: both queues with their DLQs, the evidence bucket, the Falco state
 * machine), the fake Discord (gateway and REST) and the fake Kubernetes API, all from
 * test/support. Once it is ready (/readyz answers 200) its RSS is read from /proc (or `ps`) once a
 * second: the highest figure of the warm-up (start-up garbage not yet given back), then the idle
 * figure once V8 has settled (its memory reducer shrinks the heap after some idle time).
 *
 * Options: --seconds N (idle sampling time, default 30), --warmup N (default 60),
 * --breakdown (also: the RSS each heavy dependency adds on its own, each in a fresh process),
 * --json (one JSON object on stdout instead of the table), --node-options "FLAGS" (NODE_OPTIONS for the
 * bot's process instead of the image's own, the Dockerfile's `ENV NODE_OPTIONS=`; e.g.
 * --heapsnapshot-signal=SIGUSR2 to take a heap snapshot while it idles; `--node-options=` for Node's defaults),
 * --modules (also: the packages and sentinel modules the idle bot has loaded, recorded by
 * test/support/moduleRecorder/recordModules.mjs; its resolve hook costs a little memory of its own),
 * --malloc-env MALLOC_NAME=VALUE (repeatable; glibc malloc's environment for the bot, e.g.
 * MALLOC_ARENA_MAX=2, on top of the image's own `ENV MALLOC_…` lines), --malloc-defaults (without the
 * image's malloc tunables: glibc's defaults), --ranges (only this, no bot: what the bundled AWS ranges cost alone, from the build, in fresh
 * processes: the heap the index keeps after a full GC, JavaScript heap and typed arrays, and what
 * building it allocates at every start).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../src/aws/clients.js';
import { loadStateMachineDefinitions } from '../src/provision/loadStateMachines.js';
import { packageRoot } from '../src/util/packageRoot.js';
import { readImageEnv } from './imageEnv.js';
import { startFakeDiscord } from '../test/support/fakeDiscord/index.js';
import { startFakeKube } from '../test/support/fakeKube/index.js';
import { ensureMotoVenv } from '../test/support/moto/ensureMotoVenv.js';
import { MOTO_STATE_MACHINE_ROLE_ID, startMoto } from '../test/support/moto/startMoto.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '60' },
    breakdown: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'node-options': { type: 'string' },
    'malloc-env': { type: 'string', multiple: true, default: [] },
    'malloc-defaults': { type: 'boolean', default: false },
    modules: { type: 'boolean', default: false },
    ranges: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!(seconds >= 1) || !(warmup >= 0)) throw new Error('--seconds must be >= 1 and --warmup >= 0');

const REGION = 'ap-northeast-2';
const ROOT = packageRoot();
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => bytes / (1024 * 1024);
const log = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

/** The image's NODE_OPTIONS and malloc tunables (the Dockerfile's ENV lines), so that the bot runs as the image runs it. */
const IMAGE_ENV = readImageEnv(join(ROOT, 'Dockerfile'));
const imageNodeOptions = (): string => IMAGE_ENV.nodeOptions;

/** RSS in bytes of a running process (Linux /proc, else ps). */
function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux: ps below
  }
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024;
}

interface Samples {
  median: number;
  max: number;
  min: number;
  count: number;
}

async function sample(pid: number, forSeconds: number): Promise<Samples> {
  const rss: number[] = [];
  for (let i = 0; i < forSeconds; i++) {
    rss.push(rssOf(pid));
    await delay(1000);
  }
  rss.sort((a, b) => a - b);
  return { median: rss[Math.floor(rss.length / 2)]!, max: rss[rss.length - 1]!, min: rss[0]!, count: rss.length };
}

/** The highest RSS over `forSeconds`. */
async function peak(pid: number, forSeconds: number): Promise<number> {
  let max = 0;
  for (let i = 0; i < forSeconds; i++) {
    max = Math.max(max, rssOf(pid));
    await delay(1000);
  }
  return max;
}

function spawnNode(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function stopChild(p: { child: ChildProcess; exited: Promise<number | null> }): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

/** The plain Node baseline: a process that loads nothing and stays alive. */
async function baseline(): Promise<Samples> {
  const p = spawnNode(['-e', 'setInterval(() => {}, 1000)'], {});
  try {
    await delay(Math.min(warmup, 10) * 1000);
    return await sample(p.child.pid!, seconds);
  } finally {
    await stopChild(p);
  }
}

/** What each heavy dependency adds on its own: imported in a fresh process, RSS after import minus before. */
const BREAKDOWN_MODULES = [
  'discord.js',
  '@aws-sdk/client-sqs',
  '@aws-sdk/client-sfn',
  '@aws-sdk/client-s3',
  '@aws-sdk/client-ec2',
  '@aws-sdk/client-ssm',
  '@aws-sdk/client-cloudtrail',
  '@aws-sdk/client-auto-scaling',
  '@aws-sdk/client-eventbridge',
  '@kubernetes/client-node',
  'aws-local-stepfunctions',
  'sqs-consumer',
  'winston',
  'prom-client',
  'zod',
  './dist/src/bot/startBot.js',
];

async function breakdown(): Promise<{ module: string; rssMb: number; heapMb: number }[]> {
  const rows: { module: string; rssMb: number; heapMb: number }[] = [];
  for (const module of BREAKDOWN_MODULES) {
    const spec = module.startsWith('.') ? join(ROOT, module) : module;
    const script = [
      'const before = process.memoryUsage();',
      `await import(${JSON.stringify(spec)});`,
      'globalThis.gc?.(); await new Promise((r) => setTimeout(r, 200)); globalThis.gc?.();',
      'const after = process.memoryUsage();',
      'console.log(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed }));',
    ].join('\n');
    // A small young generation, so that RSS shows what the module keeps rather than room for garbage.
    const p = spawnNode(['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', script], {});
    const code = await p.exited;
    const line = p.output().trim().split('\n').pop() ?? '';
    if (code !== 0) throw new Error(`importing ${module} failed:\n${p.output()}`);
    const r = JSON.parse(line) as { rss: number; heap: number };
    rows.push({ module, rssMb: mb(r.rss), heapMb: mb(r.heap) });
  }
  return rows;
}

/**
 * The bundled AWS ranges alone (`--ranges`), from the build: what bundledAwsIpRanges keeps (heap
 * used and typed arrays after a full GC, the schema already loaded) and what it allocates (a young
 * generation too large to collect in between, so that heap used grows by all of it), each in a
 * fresh process.
 */
async function rangesCost(): Promise<{ keptMb: number; allocatedMb: number; buildMs: number }> {
  const spec = JSON.stringify(join(ROOT, 'dist', 'src', 'pipeline', 'net', 'awsIpRanges.js'));
  const run = async (flags: string[], body: string[]) => {
    const script = [`const m = await import(${spec});`, "m.parseAwsIpRanges('{}');", 'const used = () => { const u = process.memoryUsage(); return u.heapUsed + u.arrayBuffers; };', ...body].join('\n');
    const p = spawnNode([...flags, '--input-type=module', '-e', script], {});
    if ((await p.exited) !== 0) throw new Error(`measuring the AWS ranges failed:\n${p.output()}`);
    return JSON.parse(p.output().trim().split('\n').pop() ?? '') as Record<string, number>;
  };
  const gc = 'globalThis.gc(); await new Promise((r) => setTimeout(r, 200)); globalThis.gc();';
  const kept = await run(['--expose-gc'], [gc, 'const before = used();', "const ranges = m.bundledAwsIpRanges(['EC2']);", gc, 'console.log(JSON.stringify({ kept: used() - before, n: ranges.prefixCount }));']);
  const allocated = await run(['--min-semi-space-size=1024', '--max-semi-space-size=1024'], [
    'const before = used(); const t = performance.now();',
    "m.bundledAwsIpRanges(['EC2']);",
    'console.log(JSON.stringify({ allocated: used() - before, ms: performance.now() - t }));',
  ]);
  return { keptMb: mb(kept.kept!), allocatedMb: mb(allocated.allocated!), buildMs: allocated.ms! };
}

async function createQueue(aws: AwsClients, name: string): Promise<string> {
  const { QueueUrl: dlqUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl!, AttributeNames: ['QueueArn'] }));
  const { QueueUrl } = await aws.sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 5 }) } }),
  );
  return QueueUrl!;
}

async function main(): Promise<void> {
  if (values.ranges) {
    const r = await rangesCost();
    if (values.json) process.stdout.write(`${JSON.stringify({ node: process.version, awsRanges: { keptMb: round(r.keptMb), allocatedMb: round(r.allocatedMb), buildMs: Math.round(r.buildMs) } })}\n`);
    else log(`bundled AWS ranges (dist): kept ${fmt(r.keptMb)} after a full GC; building allocates ${fmt(r.allocatedMb)} in ${Math.round(r.buildMs)} ms`);
    return;
  }
  log('sentinel memory benchmark: idle RSS of `node bin/sentinel start` against moto, the fake Discord and the fake Kubernetes API');
  const venv = await ensureMotoVenv();
  const moto = await startMoto({ python: venv.python });
  const discord = await startFakeDiscord({ members: [{ username: 'alice', roles: ['Responder'] }] });
  const kube = await startFakeKube();
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-bench-memory-'));
  const aws = createAwsClients({ region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  let bot: ReturnType<typeof spawnNode> | undefined;
  try {
    const suffix = Date.now().toString(36);
    const [queueUrl, controlQueueUrl] = await Promise.all([createQueue(aws, `bench-intake-${suffix}`), createQueue(aws, `bench-control-${suffix}`)]);
    const bucket = `bench-evidence-${suffix}`;
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
    const falco = (await loadStateMachineDefinitions(controlQueueUrl)).find((d) => d.name === 'falco-incident');
    if (!falco) throw new Error('no falco-incident.asl.json in deploy/statemachines');
    const sm = await aws.sfn.send(
      new CreateStateMachineCommand({ name: `bench-falco-${suffix}`, definition: falco.definition, roleArn: 'arn:aws:iam::123456789012:role/sentinel-sfn' }),
    );
    const kubeconfigPath = join(dataDir, 'kubeconfig.json');
    await writeFile(kubeconfigPath, kube.kubeConfig().exportConfig(), { mode: 0o600 });

    const env: Record<string, string> = {
      NODE_ENV: 'production',
      SENTINEL_LOG_LEVEL: 'info',
      SENTINEL_LOG_FORMAT: 'json',
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_TOKEN: discord.token,
      DISCORD_APPLICATION_ID: discord.applicationId,
      DISCORD_GUILD_ID: discord.guildId,
      DISCORD_CHANNEL_ID: discord.channel('alerts').id,
      DISCORD_RESPONDER_ROLE_IDS: discord.role('Responder').id,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      SENTINEL_QUEUE_URL: queueUrl,
      SENTINEL_CONTROL_QUEUE_URL: controlQueueUrl,
      SENTINEL_SFN_ROLE_ID: MOTO_STATE_MACHINE_ROLE_ID,
      SENTINEL_EVIDENCE_BUCKET: bucket,
      SENTINEL_STATE_MACHINE_FALCO: sm.stateMachineArn!,
      SENTINEL_DATA_DIR: dataDir,
      SENTINEL_HTTP_HOST: '127.0.0.1',
      SENTINEL_HTTP_PORT: '0',
      SENTINEL_KUBECONFIG: kubeconfigPath,
      SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
    };
    const modulesFile = join(dataDir, 'modules.txt');
    const nodeOptions = [values['node-options'] ?? imageNodeOptions(), values.modules ? `--import=${join(ROOT, 'test', 'support', 'moduleRecorder', 'recordModules.mjs')}` : ''].filter(Boolean).join(' ');
    if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
    if (!values['malloc-defaults']) Object.assign(env, IMAGE_ENV.malloc);
    for (const kv of values['malloc-env'] ?? []) {
      const m = /^(MALLOC_[A-Z_]+_?)=(\S+)$/.exec(kv);
      if (!m) throw new Error(`--malloc-env takes MALLOC_NAME=VALUE (glibc's malloc tunables), not ${JSON.stringify(kv)}`);
      env[m[1]!] = m[2]!;
    }
    if (values.modules) env.SENTINEL_BENCH_MODULES_FILE = modulesFile;
    bot = spawnNode([join(ROOT, 'bin', 'sentinel'), 'start'], env);
    const b = bot;
    const url = await waitForLine(b, (line) => {
      const m = /"message":"health and metrics listening".*"url":"([^"]+)"/.exec(line);
      return m?.[1];
    });
    await waitForReady(url);
    log(`bot ready (pid ${b.child.pid}); idle ${warmup} s (its highest RSS noted), then sampling RSS for ${seconds} s`);
    const warmupPeak = await peak(b.child.pid!, warmup);
    const botRss = await sample(b.child.pid!, seconds);
    if (b.child.exitCode !== null) throw new Error(`the bot exited during the benchmark:\n${b.output()}`);
    const heap = await heapFigures(url);
    log(`baseline: plain node (-e 'setInterval(...)'), idle ${Math.min(warmup, 10)} s, then sampling for ${seconds} s`);
    const base = await baseline();
    const modules = values.breakdown ? await breakdown() : undefined;
    // What it had loaded: written when it exits.
    let loaded: LoadedModules | undefined;
    if (values.modules) {
      await stopChild(b);
      loaded = loadedModules(existsSync(modulesFile) ? readFileSync(modulesFile, 'utf8') : '');
    }

    const result = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      seconds,
      warmup,
      nodeOptions: values['node-options'] ?? imageNodeOptions(),
      malloc: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('MALLOC_'))),
      botRssMb: { median: round(mb(botRss.median)), min: round(mb(botRss.min)), max: round(mb(botRss.max)) },
      botWarmupPeakMb: round(mb(warmupPeak)),
      baselineRssMb: { median: round(mb(base.median)), min: round(mb(base.min)), max: round(mb(base.max)) },
      botOverBaselineMb: round(mb(botRss.median - base.median)),
      botHeapMb: heap,
      targetMb: 120,
      ...(modules ? { modules: modules.map((m) => ({ ...m, rssMb: round(m.rssMb), heapMb: round(m.heapMb) })) } : {}),
      ...(loaded ? { loaded } : {}),
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      log('');
      log(`node ${result.node} ${result.platform}, the bot's NODE_OPTIONS: ${result.nodeOptions || '(none)'}; malloc: ${Object.entries(result.malloc).map(([k, v]) => `${k}=${v}`).join(' ') || "glibc's defaults"}`);
      log(`bot idle RSS        median ${fmt(result.botRssMb.median)}  (min ${fmt(result.botRssMb.min)}, max ${fmt(result.botRssMb.max)})  target < 120 MB`);
      log(`bot RSS in warm-up  highest ${fmt(result.botWarmupPeakMb)} (the first ${warmup} s after ready)`);
      log(`plain node RSS      median ${fmt(result.baselineRssMb.median)}  (min ${fmt(result.baselineRssMb.min)}, max ${fmt(result.baselineRssMb.max)})`);
      log(`bot over baseline   ${fmt(result.botOverBaselineMb)}`);
      log(`bot heap (its /metrics, at the end)  used ${fmt(heap.used)} of ${fmt(heap.total)}, external ${fmt(heap.external)}`);
      if (result.modules) {
        log('');
        log('what each module adds when imported alone (fresh process each, young generation 1 MB, after GC):');
        for (const m of result.modules) log(`  ${m.module.padEnd(32)} rss +${fmt(m.rssMb)}  heap +${fmt(m.heapMb)}`);
      }
      if (result.loaded) {
        log('');
        log(`loaded by the idle bot: ${result.loaded.sentinelModules} sentinel modules, ${result.loaded.packages.length} packages`);
        log(`  packages: ${result.loaded.packages.join(', ')}`);
        log(`  actions: ${result.loaded.actions.length ? result.loaded.actions.join(', ') : 'none'}`);
      }
    }
  } finally {
    if (bot) await stopChild(bot);
    destroyAwsClients(aws);
    await discord.close();
    await kube.close();
    await moto.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

interface LoadedModules {
  /** npm packages (their names), sorted. */
  packages: string[];
  sentinelModules: number;
  /** Action modules (src/pipeline/actions/…), by file. */
  actions: string[];
}

/** The packages and sentinel modules in recordModules.mjs's list. */
function loadedModules(text: string): LoadedModules {
  const packages = new Set<string>();
  const sentinel = new Set<string>();
  const actions = new Set<string>();
  for (const line of text.split('\n')) {
    const where = line.replace(/^(esm|cjs) /, '');
    if (!where || where.startsWith('node:')) continue;
    const path = where.startsWith('file:') ? decodeURIComponent(new URL(where).pathname) : where;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path.slice(path.lastIndexOf('node_modules/')))?.[1];
    if (pkg) {
      packages.add(pkg);
      continue;
    }
    const own = /\/dist\/src\/(.+\.js)$/.exec(path)?.[1];
    if (!own) continue;
    sentinel.add(own);
    const action = /^pipeline\/actions\/(?:.+\/)?([^/]+)\.js$/.exec(own)?.[1];
    if (action && !['registry', 'types', 'parseActionInput', 'podFileInput'].includes(action)) actions.add(action);
  }
  return { packages: [...packages].sort(), sentinelModules: sentinel.size, actions: [...actions].sort() };
}

const round = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number) => `${n.toFixed(1)} MB`;

function waitForLine(p: ReturnType<typeof spawnNode>, match: (line: string) => string | undefined, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      for (const line of p.output().split('\n')) {
        const found = match(line);
        if (found) return resolve(found);
      }
      if (p.child.exitCode !== null) return reject(new Error(`the bot exited:\n${p.output()}`));
      if (Date.now() - started > timeoutMs) return reject(new Error(`the bot did not start within ${timeoutMs} ms:\n${p.output()}`));
      setTimeout(check, 100);
    };
    check();
  });
}

/** The bot's own V8 figures, from its default metrics (loopback: no token needed). */
async function heapFigures(url: string): Promise<{ used: number; total: number; external: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  // Node's default metrics, with or without sentinel's prefix (older builds had it).
  const value = (name: string) => {
    const m = new RegExp(`^(?:sentinel_)?${name} ([0-9.e+]+)`, 'm').exec(text);
    return m ? round(mb(Number(m[1]))) : Number.NaN;
  };
  return { used: value('nodejs_heap_size_used_bytes'), total: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
}

async function waitForReady(url: string, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() - started > timeoutMs) throw new Error(`${url}/readyz did not answer 200 within ${timeoutMs} ms`);
    await delay(250);
  }
}

await main();
