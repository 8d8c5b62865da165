/**
 * cfn-lint (PyPI, pinned in requirements.txt beside this file) in its own virtualenv,
 * `.cache/cfn-lint-venv`, built on first use like moto's and reused after that.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv, PythonSetupError, repoRoot, run, tail, type PythonVenv } from '../python/ensureVenv.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const cfnLintRequirements = path.join(here, 'requirements.txt');
export const cfnLintVenvDir = path.join(repoRoot, '.cache', 'cfn-lint-venv');

/** One finding, as cfn-lint's JSON output gives it. */
export interface CfnLintFinding {
  Rule: { Id: string; Description?: string };
  Level: string;
  Message: string;
  Location: { Start: { LineNumber: number; ColumnNumber: number }; Path?: (string | number)[] };
}

export interface CfnLintResult {
  version: string;
  findings: CfnLintFinding[];
}

/** The cfn-lint venv (created on first use). */
export function ensureCfnLintVenv(): Promise<PythonVenv> {
  return ensureVenv({
    tool: 'cfn-lint',
    purpose: 'The CloudFormation template check (cfn-lint)',
    dir: cfnLintVenvDir,
    requirementsFile: cfnLintRequirements,
    distribution: 'cfn-lint',
  });
}

/**
 * Runs cfn-lint on one template, every rule at every level (errors, warnings, informational).
 * Exit codes 0/2/4/8 (and their sums) carry findings; anything else, or output that is not
 * cfn-lint's JSON list, is a failure of the tool itself.
 */
export async function lintTemplate(templatePath: string): Promise<CfnLintResult> {
  const venv = await ensureCfnLintVenv();
  const out = await run(
    venv.python,
    ['-c', 'import sys; from cfnlint.runner import main; sys.exit(main())', '--format', 'json', '--include-checks', 'I', '--', templatePath],
    5 * 60_000,
  );
  if (out.spawnError || out.code === null || out.code === 1 || out.code > 15) {
    throw new PythonSetupError(`cfn-lint did not run (exit ${String(out.code)}${out.signal ? `, ${out.signal}` : ''}):\n${tail(out.stderr + '\n' + out.stdout, 40)}`);
  }
  let findings: unknown;
  try {
    findings = JSON.parse(out.stdout);
  } catch {
    throw new PythonSetupError(`cfn-lint printed something other than JSON (exit ${out.code}):\n${tail(out.stdout + '\n' + out.stderr, 40)}`);
  }
  if (!Array.isArray(findings)) throw new PythonSetupError(`cfn-lint printed ${typeof findings}, not a list of findings`);
  return { version: venv.version, findings: findings as CfnLintFinding[] };
}

/** One line per finding: `E3012 Resources/X/Properties/Y (line 12): message`. */
export function formatFindings(findings: readonly CfnLintFinding[]): string[] {
  return findings.map((f) => `${f.Rule.Id} ${(f.Location.Path ?? []).join('/')} (line ${f.Location.Start.LineNumber}): ${f.Message}`);
}
