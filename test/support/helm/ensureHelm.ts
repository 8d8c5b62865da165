/**
 * helm for the chart tests, built from source through the Go module proxy (`go install
 * helm.sh/helm/v3/cmd/helm@v3.19.0`: a few minutes on two cores, the module download included)
 * into `.cache/helm-v3.19.0/helm` (git-ignored), so a clean clone builds it once and later runs
 * reuse it. The binary's Go build information names the module and version it was built from;
 * a binary that does not say helm.sh/helm/v3 v3.19.0 is rebuilt. Concurrent callers (test files,
 * `npm test`'s preparation step) wait for one build under a lock directory.
 *
 * SENTINEL_TEST_HELM may name a helm v3.19 binary to use instead (no build).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, run, tail, type RunResult } from '../python/ensureVenv.js';

export const HELM_MODULE = 'helm.sh/helm/v3';
export const HELM_VERSION = 'v3.19.0';
export const helmDir = path.join(repoRoot, '.cache', `helm-${HELM_VERSION}`);
export const helmBinary = path.join(helmDir, 'helm');

const BUILD_TIMEOUT_MS = 25 * 60_000;
const LOCK_WAIT_MS = 30 * 60_000;

export class HelmSetupError extends Error {
  override name = 'HelmSetupError';
}

export interface Helm {
  binary: string;
  version: string;
}

/** The module version a Go binary was built from (`go version -m`), if it is helm's. */
async function builtVersion(binary: string): Promise<string | undefined> {
  if (!existsSync(binary)) return undefined;
  const out = await run('go', ['version', '-m', binary]);
  if (out.code !== 0) return undefined;
  const m = /^\s*mod\s+helm\.sh\/helm\/v3\s+(\S+)/m.exec(out.stdout);
  return m?.[1];
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One builder at a time (mkdir is atomic); a lock whose owner is gone is taken over. */
async function withLock<T>(lockDir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new HelmSetupError(`Timed out waiting for ${lockDir} (held by pid ${owner || 'unknown'}); remove it if stale.`);
      if (!announced) {
        log(`waiting for another process (pid ${owner || '?'}) that is building helm…`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** helm v3.19.0, built on first use. */
export async function ensureHelm(options: { log?: (line: string) => void } = {}): Promise<Helm> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[helm] ${line}\n`));
  const override = process.env.SENTINEL_TEST_HELM;
  if (override) {
    const out = await run(override, ['version', '--template', '{{.Version}}']);
    if (out.code !== 0 || !/^v3\.19(\.|$)/.test(out.stdout.trim())) {
      throw new HelmSetupError(`SENTINEL_TEST_HELM=${override} is not helm v3.19 (${out.spawnError?.message ?? (out.stdout.trim() || tail(out.stderr, 3))})`);
    }
    return { binary: override, version: out.stdout.trim() };
  }
  if ((await builtVersion(helmBinary)) === HELM_VERSION) return { binary: helmBinary, version: HELM_VERSION };

  await mkdir(path.dirname(helmDir), { recursive: true });
  return withLock(`${helmDir}.lock`, log, async () => {
    if ((await builtVersion(helmBinary)) === HELM_VERSION) return { binary: helmBinary, version: HELM_VERSION };
    const go = await run('go', ['version']);
    if (go.spawnError || go.code !== 0) {
      throw new HelmSetupError(
        `The Helm chart tests need helm ${HELM_VERSION}, built with Go from the Go module proxy, but \`go\` could not be run ` +
          `(${go.spawnError?.code ?? tail(go.stderr, 3)}): install Go 1.24 or later (https://go.dev/doc/install or apt-get install golang-go), ` +
          `or set SENTINEL_TEST_HELM to a helm v3.19 binary.`,
      );
    }
    const started = Date.now();
    log(`building helm ${HELM_VERSION} with ${go.stdout.trim()} (go install ${HELM_MODULE}/cmd/helm@${HELM_VERSION}) into ${path.relative(repoRoot, helmDir)}; first run only, a few minutes…`);
    const staging = await mkdtemp(path.join(repoRoot, '.cache', 'helm-build-'));
    try {
      const built = await runGo(staging, ['install', '-trimpath', '-ldflags=-s -w', `${HELM_MODULE}/cmd/helm@${HELM_VERSION}`]);
      if (built.code !== 0) {
        throw new HelmSetupError(`go install ${HELM_MODULE}/cmd/helm@${HELM_VERSION} failed (exit ${String(built.code)}; is the Go module proxy reachable?):\n${tail(built.stderr + '\n' + built.stdout, 40)}`);
      }
      const version = await builtVersion(path.join(staging, 'helm'));
      if (version !== HELM_VERSION) throw new HelmSetupError(`the built binary says ${HELM_MODULE} ${version ?? '(no build information)'}, not ${HELM_VERSION}`);
      await mkdir(helmDir, { recursive: true });
      // rename is atomic: a reader sees no binary or the whole one.
      await rename(path.join(staging, 'helm'), helmBinary);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    log(`helm ${HELM_VERSION} built in ${Math.round((Date.now() - started) / 1000)} s`);
    return { binary: helmBinary, version: HELM_VERSION };
  });
}

/** `go …` with GOBIN set, run outside any module, cgo off (a static binary); argv only. */
function runGo(gobin: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const child = spawn('go', args, { cwd: gobin, env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0', GOFLAGS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (stdout = (stdout + c.toString('utf8')).slice(-256 * 1024)));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-256 * 1024)));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${BUILD_TIMEOUT_MS} ms]`;
      child.kill('SIGKILL');
    }, BUILD_TIMEOUT_MS);
    child.on('error', (spawnError: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr, spawnError });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
