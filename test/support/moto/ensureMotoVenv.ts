/**
 * Creates (once) and reuses the Python virtualenv that runs moto_server for the AWS test backend.
 *
 * The venv lives in `.cache/moto-venv` under the repo root (git-ignored). A sha256 of
 * requirements.txt (plus the interpreter version) is stored inside it; the venv is rebuilt only
 * when that changes or the venv no longer has moto (test/support/python/ensureVenv.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv, PythonSetupError, repoRoot } from '../python/ensureVenv.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export { repoRoot, PythonSetupError as MotoSetupError };
export const requirementsFile = path.join(here, 'requirements.txt');
export const defaultVenvDir = path.join(repoRoot, '.cache', 'moto-venv');

export interface MotoVenv {
  /** The venv directory. */
  dir: string;
  /** The venv's Python interpreter (run moto with `python -m moto.server`). */
  python: string;
  /** The moto version installed in the venv. */
  motoVersion: string;
}

export interface EnsureMotoVenvOptions {
  venvDir?: string;
  /** The Python used to create the venv; default `$SENTINEL_TEST_PYTHON` or `python3`. */
  python?: string;
  log?: (line: string) => void;
}

/** Creates the moto virtualenv if needed (first run, or requirements.txt changed) and returns it. */
export async function ensureMotoVenv(options: EnsureMotoVenvOptions = {}): Promise<MotoVenv> {
  const venv = await ensureVenv(
    {
      tool: 'moto',
      purpose: 'The AWS test backend (moto)',
      dir: options.venvDir ?? defaultVenvDir,
      requirementsFile,
      distribution: 'moto',
    },
    {
      ...(options.python ? { python: options.python } : {}),
      log: options.log ?? ((line: string) => process.stderr.write(`[moto] ${line}\n`)),
    },
  );
  return { dir: venv.dir, python: venv.python, motoVersion: venv.version };
}
