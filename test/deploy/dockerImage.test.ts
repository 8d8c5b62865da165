/**
 * The Docker image builds, and runs, without a container engine: both stages of the Dockerfile are
 * reproduced from exactly what their COPY lines take out of the build context (after
 * .dockerignore), their RUN lines run as written (npm ci, tsc), and the final stage's ENTRYPOINT
 * then runs as the image's USER: `--help`, `triage` on a sample event, and `start` in embedded mode
 * against the fake Discord and Kubernetes API, with the image's HEALTHCHECK probing it.
 *
 * What stands in for the base image is this machine's node and npm. npm's cache is the one
 * `RUN --mount=type=cache,target=/root/.npm` names: here, npm's own cache on this machine (filled
 * by the `npm ci` that precedes `npm test`), with prefer-offline so the packages come from it; the
 * lockfile's integrity hashes still decide what is installed. Measured on the 2-core CI machine:
 * about 25 s for the build stage's npm ci, 15 s for tsc, 10 s for the final npm ci; the suite logs
 * its own timings.
 */
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/aws.js';
import { buildWithoutDocker, basePath, healthcheckCommand, hostPath, imageCommand, imageUser, runProcess, type BuildResult } from '../support/docker/buildWithoutDocker.js';
import { createEmbeddedHarness, type EmbeddedHarness } from '../helpers/embeddedHarness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLE = join(ROOT, 'test/fixtures/events/falcosidekick-reverse-shell.json');

let outDir: string;
let built: BuildResult;
const timings: string[] = [];

/** npm's cache on this machine (what `npm ci` before `npm test` filled). */
async function hostNpmCache(): Promise<string> {
  const out = await runProcess({ command: 'npm', args: ['config', 'get', 'cache'], cwd: tmpdir(), env: { PATH: basePath(), HOME: process.env.HOME ?? '/root', ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}) }, timeoutMs: 60_000 });
  const dir = out.stdout.trim();
  if (out.code !== 0 || !dir.startsWith('/')) throw new Error(`npm config get cache failed: ${out.stderr}`);
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function listFiles(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), base) : [relative(base, join(dir, e.name))]));
}

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'sentinel-image-'));
  const started = Date.now();
  built = await buildWithoutDocker({
    contextDir: ROOT,
    outDir,
    cacheMounts: { '/root/.npm': await hostNpmCache() },
    runEnv: { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    log: (line) => timings.push(line),
  });
  const summary = `image built without Docker in ${((Date.now() - started) / 1000).toFixed(1)} s:\n  ${timings.join('\n  ')}`;
  process.stderr.write(`[dockerImage] ${summary}\n`);
}, 20 * 60_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const buildStage = () => built.stages.find((s) => s.stage.name === 'build')!;
const image = () => built.image;
const app = (path = '') => hostPath(image().root, join(image().workdir, path));

describe('the Dockerfile', () => {
  it('builds both stages from a base image pinned by digest: Node 24 on Debian bookworm, slim', () => {
    const { dockerfile } = built;
    expect(dockerfile.stages.map((s) => s.name ?? null)).toEqual(['build', null]);
    for (const stage of dockerfile.stages) {
      expect(stage.image).toMatch(/^node:24(\.\d+\.\d+)?-bookworm-slim@sha256:[0-9a-f]{64}$/);
    }
    expect(new Set(dockerfile.stages.map((s) => s.image)).size, 'one base image for both stages').toBe(1);
  });

  it('runs as the unprivileged node user, starts with exec-form ENTRYPOINT and CMD start, and has a HEALTHCHECK', () => {
    const stage = image().stage;
    expect(stage.user).toBe('node');
    expect(imageUser(stage.user).uid).toBeGreaterThan(0);
    expect(stage.entrypoint).toEqual(['node', 'bin/sentinel']);
    expect(stage.cmd).toEqual(['start']);
    expect(stage.healthcheck?.command.form).toBe('exec');
    expect(stage.expose).toEqual(['8080', '8081']);
    expect(image().env.NODE_ENV).toBe('production');
  });
});

describe('the build stage, from exactly what it copies', () => {
  it('takes nothing the build context leaves out (.dockerignore), and compiles the CLI with tsc', () => {
    const root = hostPath(buildStage().root, buildStage().workdir);
    const copied = listFiles(root).filter((f) => !f.startsWith('node_modules/') && !f.startsWith('dist/'));
    expect(copied.length).toBeGreaterThan(20);
    for (const f of copied) expect(built.ignore.excludes(f), f).toBe(false);
    expect(copied.some((f) => f.startsWith('test/')), 'no tests in the image').toBe(false);
    expect(existsSync(join(root, 'dist/src/cli/main.js'))).toBe(true);
    expect(existsSync(join(root, 'dist/commands/index.js')), 'commands/ compiled (TS2307 before it was copied)').toBe(true);
    // The dev dependencies were there to build with.
    expect(existsSync(join(root, 'node_modules/typescript/package.json'))).toBe(true);
  });

  it('leaves npm\'s cache mount out of the stage', () => {
    expect(existsSync(hostPath(buildStage().root, '/root/.npm'))).toBe(false);
    expect(existsSync(hostPath(image().root, '/root/.npm'))).toBe(false);
  });
});

describe('the final stage', () => {
  it('holds the compiled CLI, its production dependencies only, and no sources or tests', () => {
    expect(existsSync(app('dist/src/cli/main.js'))).toBe(true);
    expect(existsSync(app('bin/sentinel'))).toBe(true);
    expect(existsSync(app('node_modules/discord.js/package.json'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'tsx', 'playwright-core']) expect(existsSync(app(`node_modules/${dev}`)), dev).toBe(false);
    for (const dir of ['src', 'test', 'commands', 'docs', 'bench']) expect(existsSync(app(dir)), dir).toBe(false);
  });

  it('carries every file and folder the runtime reads through packageRoot()', () => {
    // Every `join(packageRoot(), 'a', 'b', …)` in src/.
    const read = new Map<string, string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path);
        else if (e.name.endsWith('.ts')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/join\(packageRoot\(\),\s*((?:'[^']+'\s*,?\s*)+)\)/g)) {
            read.set([...m[1]!.matchAll(/'([^']+)'/g)].map((x) => x[1]).join('/'), relative(ROOT, path));
          }
        }
      }
    };
    walk(join(ROOT, 'src'));
    expect([...read.keys()]).toEqual(expect.arrayContaining(['config/playbooks.json', 'config/aws-ip-ranges.json', 'deploy/statemachines', 'deploy/ssm']));
    // The CloudFormation template is read only by `npm run sync:template-ssm`, a tool for a checkout
    // (bin/sync-template-ssm-documents.ts): nothing the CLI runs imports its module.
    const DEV_ONLY = new Set(['deploy/cloudformation/sentinel.json']);
    const runtimeFiles = [...listFiles(join(ROOT, 'src')).map((f) => join('src', f)), ...listFiles(join(ROOT, 'commands')).map((f) => join('commands', f))].filter((f) => f.endsWith('.ts'));
    for (const [path, reader] of read) {
      if (DEV_ONLY.has(path)) {
        const module = reader.split('/').at(-1)!.replace(/\.ts$/, '.js');
        const importers = runtimeFiles.filter((f) => f !== reader && readFileSync(join(ROOT, f), 'utf8').includes(`/${module}'`));
        expect(importers, `${reader} is imported by the runtime: copy ${path} into the image`).toEqual([]);
        continue;
      }
      expect(existsSync(app(path)), `${path} (read by ${reader}) is in the image`).toBe(true);
    }
    // Each state machine and SSM document of the checkout, not only the folders.
    for (const dir of ['deploy/statemachines', 'deploy/ssm', 'config']) {
      expect(listFiles(app(dir)).sort(), dir).toEqual(listFiles(join(ROOT, dir)).sort());
    }
  });
});

describe('the image\'s entrypoint', () => {
  it('prints its help: `docker run sentinel --help`', async () => {
    const out = await runProcess({ ...imageCommand(image(), ['--help']), timeoutMs: 60_000 });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/triage/);
    expect(out.stdout).toMatch(/start/);
    expect(out.stdout).toMatch(/provision/);
  });

  it('triages a sample event from stdin exactly as the checkout does: `docker run -i sentinel triage --json < event`', async () => {
    const event = readFileSync(SAMPLE, 'utf8');
    const fromImage = await runProcess({ ...imageCommand(image(), ['triage', '--json']), stdin: event, timeoutMs: 60_000 });
    expect(fromImage.code, fromImage.stderr).toBe(0);
    const fromCheckout = await runProcess({
      command: process.execPath,
      args: ['--import', 'tsx', join(ROOT, 'test/support/runSentinel.ts'), 'triage', '--json'],
      cwd: ROOT,
      env: { PATH: basePath(), HOME: process.env.HOME ?? '/root' },
      stdin: event,
      timeoutMs: 60_000,
    });
    expect(fromCheckout.code, fromCheckout.stderr).toBe(0);
    const result = JSON.parse(fromImage.stdout.trim().split('\n')[0]!) as { route: string; target: { pod: string } };
    expect(result).toMatchObject({ route: 'block-egress', target: { pod: 'dvwa-6d8f7c9b4-x2x9k' } });
    expect(fromImage.stdout).toBe(fromCheckout.stdout);
  });

  describe('`sentinel start` in embedded mode (no AWS), probed by the image\'s HEALTHCHECK', () => {
    let h: EmbeddedHarness;
    let dataDir: string;
    let child: ReturnType<typeof import('node:child_process').spawn> | undefined;
    let output = '';

    beforeAll(async () => {
      h = await createEmbeddedHarness();
      // The data volume, owned by the image's user as a Kubernetes fsGroup or a chown'd bind mount makes it.
      dataDir = mkdtempSync(join(tmpdir(), 'sentinel-image-data-'));
      copyFileSync(h.env().SENTINEL_KUBECONFIG!, join(dataDir, 'kubeconfig.json'));
      mkdirSync(join(dataDir, 'state'));
      if (process.getuid?.() === 0) {
        const { uid, gid } = imageUser(image().stage.user);
        for (const p of [dataDir, join(dataDir, 'kubeconfig.json'), join(dataDir, 'state')]) chownSync(p, uid, gid);
      }
    }, 120_000);

    afterAll(async () => {
      child?.kill('SIGKILL');
      await h?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('serves /healthz (HEALTHCHECK exits 0), runs a playbook from the image\'s state machines, and is unhealthy once gone', async () => {
      const [httpPort, webhookPort] = [await freePort(), await freePort()];
      const env = h.env({
        SENTINEL_DATA_DIR: join(dataDir, 'state'),
        SENTINEL_KUBECONFIG: join(dataDir, 'kubeconfig.json'),
        SENTINEL_HTTP_PORT: String(httpPort),
        SENTINEL_HTTP_HOST: '0.0.0.0',
        SENTINEL_WEBHOOK_PORT: String(webhookPort),
        SENTINEL_LOG_LEVEL: 'info',
      });
      const spec = imageCommand(image(), undefined, { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' });
      expect([spec.command, ...spec.args]).toEqual(['node', 'bin/sentinel', 'start']);
      const { spawn } = await import('node:child_process');
      const proc = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid! } : {}) });
      child = proc;
      proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));

      // The HEALTHCHECK as Docker runs it in the container: the same environment, no arguments.
      const health = () => runProcess(healthcheckCommand(image(), { SENTINEL_HTTP_PORT: String(httpPort), SENTINEL_HTTP_HOST: '0.0.0.0' }));
      await waitFor(async () => ((await health()).code === 0 ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 }).catch((err: unknown) => {
        throw new Error(`the image never became healthy: ${String(err)}\n${output.slice(-3000)}`);
      });
      expect(output).toMatch(/embedded/);

      // A Falcosidekick event through the webhook: the playbook runs in the embedded engine from the
      // image's deploy/statemachines and reports to Discord.
      const posted = await h.post(JSON.parse(readFileSync(SAMPLE, 'utf8')), { url: `http://127.0.0.1:${webhookPort}/falco` });
      expect(posted.status, JSON.stringify(posted.body)).toBe(202);
      const report = await h.waitForChannelMessage((m) => (m.embeds[0]?.title ?? '').startsWith('Report:') && JSON.stringify(m.embeds).includes('dvwa-6d8f7c9b4-x2x9k'), 120_000).catch((err: unknown) => {
        throw new Error(`no report from the image's bot: ${String(err)}\n${output.slice(-3000)}`);
      });
      expect(report.embeds[0]!.title).toMatch(/^Report:/);
      // Nothing written into the image: state went to the data dir.
      expect(existsSync(join(dataDir, 'state', 'audit.ndjson')) || readdirSync(join(dataDir, 'state')).length > 0).toBe(true);

      proc.kill('SIGTERM');
      await new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', () => resolve())));
      child = undefined;
      const after = await health();
      expect(after.code, 'HEALTHCHECK fails when nothing answers').toBe(1);
    }, 300_000);
  });
});
