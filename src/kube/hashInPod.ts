import { KubernetesError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { execFailure, isMissingPath } from './execFailure.js';
import { execInPod, type ExecTarget } from './execInPod.js';

/** sha256 of a file in a pod; undefined when it does not exist. GNU sha256sum prefixes the line with `\` when it escapes the name. */
export async function hashInPod(kube: KubeClients, target: ExecTarget, path: string): Promise<string | undefined> {
  const argv = ['sha256sum', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const m = /^\\?([0-9a-f]{64}) /.exec(result.stdout);
  if (!m) throw new KubernetesError(`unexpected output from sha256sum in ${target.namespace}/${target.pod}`, { code: 'ExecFailed' });
  return m[1]!;
}
