/**
 * Creates (once) and reuses a Python virtualenv for a tool the test suite runs: moto_server (the
 * AWS backend, test/support/moto) and cfn-lint (test/support/cfnLint), each in its own venv under
 * `.cache/` (git-ignored), each from its own pinned requirements file.
 *
 * A sha256 of the requirements file (plus the interpreter version) is stored inside the venv; the
 * venv is rebuilt only when that changes or the venv no longer has the tool's distribution. Every
 * child process is started with an argv array, never through a shell.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const repoRoot = path.resolve(here, '../../..');

/** Oldest Python that moto 5.2 and cfn-lint 1.x support. */
const MIN_PYTHON: readonly [number, number] = [3, 9];
const STAMP_FILE = '.sentinel-requirements.sha256';
const INSTALL_TIMEOUT_MS = 20 * 60_000;
const LOCK_WAIT_MS = 25 * 60_000;

export interface PythonVenv {
  /** The venv directory. */
  dir: string;
  /** The venv's Python interpreter. */
  python: string;
  /** The version of the tool's distribution installed in the venv. */
  version: string;
}

export interface VenvSpec {
  /** For messages: `moto`, `cfn-lint`. */
  tool: string;
  /** What needs it, for messages: `The AWS test backend (moto)`. */
  purpose: string;
  /** The venv directory (under .cache/). */
  dir: string;
  /** A pinned requirements file; its hash decides when the venv is rebuilt. */
  requirementsFile: string;
  /** The distribution whose installed version proves the venv works: `moto`, `cfn-lint`. */
  distribution: string;
}

export interface EnsureVenvOptions {
  /** The Python used to create the venv; default `$SENTINEL_TEST_PYTHON` or `python3`. */
  python?: string;
  log?: (line: string) => void;
}

export class PythonSetupError extends Error {
  override name = 'PythonSetupError';
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}

const OUTPUT_CAP = 256 * 1024;

/** Runs a program with an argv array (no shell) and collects its output. */
export function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' },
    });
    const keep = (acc: string, chunk: Buffer) => (acc + chunk.toString('utf8')).slice(-OUTPUT_CAP);
    child.stdout.on('data', (c: Buffer) => (stdout = keep(stdout, c)));
    child.stderr.on('data', (c: Buffer) => (stderr = keep(stderr, c)));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (spawnError: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr, spawnError });
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function tail(text: string, lines = 25): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

const INSTALL_HINT =
  'install Python 3 (3.9 or newer) with the venv module and pip, e.g. `apt-get install python3 python3-venv python3-pip`, ' +
  'or point SENTINEL_TEST_PYTHON at a Python 3 interpreter';

async function checkBasePython(python: string, purpose: string): Promise<string> {
  const probe = await run(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
  if (probe.spawnError) {
    throw new PythonSetupError(
      `${purpose} needs Python, but \`${python}\` could not be started ` +
        `(${probe.spawnError.code ?? probe.spawnError.message}): ${INSTALL_HINT}.`,
    );
  }
  if (probe.code !== 0) {
    throw new PythonSetupError(
      `\`${python}\` failed to report its version (exit code ${probe.code}): ${INSTALL_HINT}.\n${tail(probe.stderr)}`.trim(),
    );
  }
  const version = probe.stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new PythonSetupError(`\`${python}\` is Python ${version}; ${purpose} needs ${MIN_PYTHON.join('.')}+: ${INSTALL_HINT}.`);
  }
  const venvProbe = await run(python, ['-c', 'import venv, ensurepip']);
  if (venvProbe.code !== 0) {
    throw new PythonSetupError(
      `Python ${version} (\`${python}\`) has no usable venv module (import venv, ensurepip failed). ` +
        `Install Python 3 with the venv module: apt-get install python3-venv\n${tail(venvProbe.stderr, 5)}`,
    );
  }
  return version;
}

export function venvPython(dir: string): string {
  return process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

async function readStamp(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(dir, STAMP_FILE), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** The installed version of `distribution` if the venv works, else undefined. */
async function installedVersion(dir: string, distribution: string): Promise<string | undefined> {
  const python = venvPython(dir);
  if (!existsSync(python)) return undefined;
  const probe = await run(python, ['-c', 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))', distribution]);
  return probe.code === 0 ? probe.stdout.trim() : undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A directory lock (mkdir is atomic); a lock whose owner process is gone is taken over. */
async function withLock<T>(lockDir: string, what: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
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
      if (Date.now() > deadline) {
        throw new PythonSetupError(`Timed out waiting for ${lockDir} (held by pid ${owner || 'unknown'}); remove it if stale.`);
      }
      if (!announced) {
        log(`waiting for another process (pid ${owner || '?'}) that is building the ${what} virtualenv…`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** Creates the venv if needed (first run, or its requirements file changed) and returns it. */
export async function ensureVenv(spec: VenvSpec, options: EnsureVenvOptions = {}): Promise<PythonVenv> {
  const { dir, tool } = spec;
  const basePython = options.python ?? process.env.SENTINEL_TEST_PYTHON ?? 'python3';
  const log = options.log ?? ((line: string) => process.stderr.write(`[${tool}] ${line}\n`));

  const requirements = await readFile(spec.requirementsFile, 'utf8');
  const stampFor = (pythonVersion: string) =>
    createHash('sha256').update(requirements).update(`\npython ${pythonVersion}\n`).digest('hex');

  const reuse = async (): Promise<PythonVenv | undefined> => {
    const stamp = await readStamp(dir);
    if (!stamp) return undefined;
    const version = await run(venvPython(dir), ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
    if (version.code !== 0 || stamp !== stampFor(version.stdout.trim())) return undefined;
    const installed = await installedVersion(dir, spec.distribution);
    return installed ? { dir, python: venvPython(dir), version: installed } : undefined;
  };

  const ready = await reuse();
  if (ready) return ready;

  await mkdir(path.dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, tool, log, async () => {
    const builtMeanwhile = await reuse();
    if (builtMeanwhile) return builtMeanwhile;

    const pythonVersion = await checkBasePython(basePython, spec.purpose);
    const started = Date.now();
    const requirementsName = path.relative(repoRoot, spec.requirementsFile);
    log(`creating the ${tool} virtualenv in ${path.relative(repoRoot, dir) || dir} (Python ${pythonVersion}); first run or ${requirementsName} changed; this takes a minute or two…`);

    const created = await run(basePython, ['-m', 'venv', '--clear', dir], 5 * 60_000);
    if (created.code !== 0) {
      throw new PythonSetupError(
        `\`${basePython} -m venv\` failed${created.spawnError ? ` (${created.spawnError.message})` : ''}. ` +
          `Install Python 3 with the venv module: apt-get install python3-venv\n${tail(created.stderr + created.stdout)}`,
      );
    }
    const python = venvPython(dir);
    const pip = await run(python, ['-m', 'pip', '--version']);
    if (pip.code !== 0) {
      throw new PythonSetupError(`pip is not available in the new virtualenv ${dir}: apt-get install python3-pip python3-venv\n${tail(pip.stderr)}`);
    }
    const installed = await run(
      python,
      ['-m', 'pip', 'install', '--no-input', '--quiet', '--disable-pip-version-check', '-r', spec.requirementsFile],
      INSTALL_TIMEOUT_MS,
    );
    if (installed.code !== 0) {
      throw new PythonSetupError(`pip install -r ${requirementsName} failed (is PyPI reachable?):\n` + tail(installed.stderr + '\n' + installed.stdout, 40));
    }
    const version = await installedVersion(dir, spec.distribution);
    if (!version) throw new PythonSetupError(`${spec.distribution} is not installed in ${dir} after pip install.`);
    // The stamp is written last: a half-built venv is never reused.
    const venvVersion = await run(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
    await writeFile(path.join(dir, STAMP_FILE), `${stampFor(venvVersion.stdout.trim())}\n`);
    log(`${tool} ${version} installed in ${Math.round((Date.now() - started) / 1000)} s`);
    return { dir, python, version };
  });
}
