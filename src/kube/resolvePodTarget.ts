import type { V1Pod } from '@kubernetes/client-node';
import { KubernetesError, NotFoundError, ValidationError } from '../errors.js';
import type { KubeClients } from './clients.js';
import type { ExecTarget } from './execInPod.js';

/**
 * Reads the pod (404 → NotFound) and names the container to exec in: the one
 * asked for, the only one, or the pod's `kubectl.kubernetes.io/default-container`.
 */
export async function resolvePodTarget(kube: KubeClients, input: { namespace: string; pod: string; container?: string | undefined }): Promise<ExecTarget & { container: string }> {
  let pod: V1Pod;
  try {
    pod = await kube.core.readNamespacedPod({ name: input.pod, namespace: input.namespace });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 404) throw new NotFoundError(`pod ${input.namespace}/${input.pod} not found`, { code: 'PodNotFound' });
    throw new KubernetesError(`cannot read pod ${input.namespace}/${input.pod}: ${(err as Error).message}`, { cause: err });
  }
  const names = pod.spec?.containers.map((c) => c.name) ?? [];
  let container = input.container;
  if (container !== undefined) {
    if (!names.includes(container)) {
      throw new NotFoundError(`container ${container} is not in pod ${input.namespace}/${input.pod} (${names.join(', ')})`, { code: 'ContainerNotFound' });
    }
  } else if (names.length === 1) {
    container = names[0]!;
  } else {
    const preferred = pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'];
    if (!preferred || !names.includes(preferred)) {
      throw new ValidationError(`pod ${input.namespace}/${input.pod} has several containers (${names.join(', ')}): name one`, { code: 'ContainerRequired' });
    }
    container = preferred;
  }
  return { namespace: input.namespace, pod: input.pod, container };
}
