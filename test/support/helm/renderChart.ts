/**
 * `helm template` of sentinel's chart (deploy/helm/sentinel) with given values, through the helm
 * that ensureHelm builds; argv only. Values go in as a JSON file (JSON is YAML).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, run } from '../python/ensureVenv.js';
import { ensureHelm } from './ensureHelm.js';

export const CHART_DIR = path.join(repoRoot, 'deploy', 'helm', 'sentinel');

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /**
   * `--kube-version`: what Capabilities.KubeVersion says, checked against Chart.yaml's kubeVersion.
   * Default 1.29.0, the oldest the chart supports (helm template's own default, 1.20, is refused).
   */
  kubeVersion?: string;
  /** Extra arguments (e.g. `--set key=value` pairs from the docs). */
  args?: string[];
}

export interface RenderResult {
  ok: boolean;
  /** The manifests (a YAML stream) when ok. */
  yaml: string;
  /** helm's error output when not. */
  error: string;
}

/** helm with argv, in the repository root. */
export async function helm(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { binary } = await ensureHelm();
  const out = await run(binary, args, 120_000);
  if (out.spawnError) throw out.spawnError;
  return out;
}

export async function renderChart(values: Record<string, unknown>, options: RenderOptions = {}): Promise<RenderResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sentinel-helm-'));
  try {
    const valuesFile = path.join(dir, 'values.json');
    await writeFile(valuesFile, JSON.stringify(values));
    const out = await helm([
      'template',
      options.release ?? 'sentinel',
      CHART_DIR,
      '--namespace',
      options.namespace ?? 'sentinel',
      '--values',
      valuesFile,
      '--kube-version',
      options.kubeVersion ?? '1.29.0',
      ...(options.args ?? []),
    ]);
    return { ok: out.code === 0, yaml: out.code === 0 ? out.stdout : '', error: out.code === 0 ? '' : out.stderr.trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
