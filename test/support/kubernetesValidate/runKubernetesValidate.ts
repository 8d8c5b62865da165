/**
 * kubernetes-validate (PyPI, pinned in requirements.txt beside this file): the Kubernetes API's
 * JSON schemas for each release, strict mode refusing unknown fields. It lives in its own
 * virtualenv, `.cache/kubernetes-validate-venv`, built on first use like cfn-lint's. The script
 * beside this file parses the manifests (PyYAML) and validates each document for each version.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv, PythonSetupError, repoRoot, run, tail, type PythonVenv } from '../python/ensureVenv.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const kubernetesValidateRequirements = path.join(here, 'requirements.txt');
export const kubernetesValidateVenvDir = path.join(repoRoot, '.cache', 'kubernetes-validate-venv');
const SCRIPT = path.join(here, 'validateManifests.py');

export interface ValidationResult {
  index: number;
  kind: string;
  name: string;
  version: string;
  status: 'passed' | 'failed' | 'no-schema';
  /** The schema release used (the newest at or below `version`). */
  validatedAgainst?: string;
  path?: string;
  message?: string;
}

export interface ValidationReport {
  validator: string;
  supportedVersions: string[];
  /** The manifests' documents, as parsed. */
  documents: Record<string, unknown>[];
  results: ValidationResult[];
}

export function ensureKubernetesValidateVenv(): Promise<PythonVenv> {
  return ensureVenv({
    tool: 'kubernetes-validate',
    purpose: 'The Helm chart check (kubernetes-validate)',
    dir: kubernetesValidateVenvDir,
    requirementsFile: kubernetesValidateRequirements,
    distribution: 'kubernetes-validate',
  });
}

/** Validates manifests (a YAML stream) for each Kubernetes version; `strict` refuses unknown fields. */
export async function validateManifests(yamlText: string, versions: readonly string[], options: { strict?: boolean } = {}): Promise<ValidationReport> {
  const venv = await ensureKubernetesValidateVenv();
  const dir = await mkdtemp(path.join(tmpdir(), 'sentinel-kv-'));
  try {
    const file = path.join(dir, 'manifests.yaml');
    await writeFile(file, yamlText);
    const args = [SCRIPT, ...(options.strict === false ? [] : ['--strict']), ...versions.flatMap((v) => ['--kubernetes-version', v]), file];
    const out = await run(venv.python, args, 5 * 60_000);
    let parsed: (ValidationReport & { error?: undefined }) | { error: string };
    try {
      parsed = JSON.parse(out.stdout) as typeof parsed;
    } catch {
      throw new PythonSetupError(`kubernetes-validate did not run (exit ${String(out.code)}):\n${tail(out.stderr + '\n' + out.stdout, 40)}`);
    }
    if (parsed.error !== undefined) throw new PythonSetupError(parsed.error);
    if (out.code !== 0) throw new PythonSetupError(`kubernetes-validate exited ${String(out.code)}:\n${tail(out.stderr, 40)}`);
    return parsed;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
