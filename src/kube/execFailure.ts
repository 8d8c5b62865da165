import { KubernetesError } from '../errors.js';
import type { ExecResult, ExecTarget } from './execInPod.js';

/** Whether a failed command failed because its path does not exist. */
export function isMissingPath(result: ExecResult): boolean {
  return /No such file or directory|Not a directory/.test(result.stderr);
}

/** The error for a command that had to succeed and did not: first stderr line, exit code, argv. */
export function execFailure(target: ExecTarget, argv: readonly string[], result: ExecResult): KubernetesError {
  const why = result.stderr.trim().split('\n')[0] || 'no error output';
  return new KubernetesError(`${argv[0]} failed in ${target.namespace}/${target.pod} (exit ${result.exitCode}): ${why}`, {
    code: 'ExecFailed',
    details: { argv: [...argv], exitCode: result.exitCode },
  });
}
