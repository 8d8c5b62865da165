import { KubernetesError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { execFailure, isMissingPath } from './execFailure.js';
import { execInPod, type ExecTarget } from './execInPod.js';

/**
 * Where a path really is inside a pod: `realpath -e -z -- PATH` (argv only), every symlink and
 * `..` resolved by the container's own kernel view. Undefined when the path (or a directory on
 * the way) does not exist. `-z` ends the answer with a NUL, so a name with a newline is read whole.
 */
export async function resolveInPod(kube: KubeClients, target: ExecTarget, path: string): Promise<string | undefined> {
  const argv = ['realpath', '-e', '-z', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const resolved = result.stdout.endsWith('\0') ? result.stdout.slice(0, -1) : result.stdout;
  if (!resolved.startsWith('/') || resolved.includes('\0')) {
    throw new KubernetesError(`unexpected output from realpath in ${target.namespace}/${target.pod}: ${JSON.stringify(resolved.slice(0, 200))}`, { code: 'ExecFailed' });
  }
  return resolved;
}
