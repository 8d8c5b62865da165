import { KubernetesError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { execInPod, type ExecTarget } from './execInPod.js';

/** The uid sentinel's commands run as in the container (`id -u`): the container's user, as exec uses it. */
export async function execUserOf(kube: KubeClients, target: ExecTarget): Promise<number> {
  const argv = ['id', '-u'];
  const result = await execInPod(kube, target, argv);
  const m = /^(\d+)\n?$/.exec(result.stdout);
  if (result.exitCode !== 0 || !m) {
    const why = result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`;
    throw new KubernetesError(`cannot tell which user commands run as in ${target.namespace}/${target.pod} (id -u: ${why})`, {
      code: 'ExecFailed',
      details: { argv, exitCode: result.exitCode },
    });
  }
  return Number(m[1]);
}
