import { PatchStrategy, setHeaderOptions, type V1ContainerState, type V1EphemeralContainer, type V1Pod } from '@kubernetes/client-node';
import { KubernetesError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { kubeCall } from './kubeErrors.js';

const STRATEGIC_MERGE = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** Waiting reasons the kubelet will not get past by itself soon: fail at once instead of waiting them out. */
const FATAL_WAITING = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** An ephemeral container's state as the pod reports it (undefined until the kubelet reports it). */
export function ephemeralState(pod: V1Pod, name: string): V1ContainerState | undefined {
  return (pod.status?.ephemeralContainerStatuses ?? []).find((s) => s.name === name)?.state;
}

/**
 * Adds one ephemeral container to a running pod (the `pods/ephemeralcontainers` subresource,
 * strategic merge patch, as `kubectl debug` does). It can never be removed again: Kubernetes
 * keeps it in the pod's spec, exited, until the pod goes.
 */
export async function addEphemeralContainer(kube: KubeClients, namespace: string, pod: string, container: V1EphemeralContainer): Promise<V1Pod> {
  return kubeCall(
    () => kube.core.patchNamespacedPodEphemeralcontainers({ name: pod, namespace, body: { spec: { ephemeralContainers: [container] } } }, STRATEGIC_MERGE),
    `adding ephemeral container ${container.name} to pod ${namespace}/${pod}`,
  );
}

/**
 * Polls the pod until the ephemeral container runs. Fails at once when it cannot start (image
 * pull, bad config) or has exited, and after `timeoutMs` otherwise.
 */
export async function waitForEphemeralRunning(kube: KubeClients, namespace: string, pod: string, name: string, timeoutMs: number, pollMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await kubeCall(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
    const state = ephemeralState(current, name);
    if (state?.running) return;
    if (state?.terminated) {
      throw new KubernetesError(`ephemeral container ${name} in ${namespace}/${pod} exited (${state.terminated.reason ?? `exit ${state.terminated.exitCode}`}) before it could be used`, { code: 'EphemeralExited' });
    }
    const reason = state?.waiting?.reason;
    if (reason && FATAL_WAITING.has(reason)) {
      throw new KubernetesError(`ephemeral container ${name} in ${namespace}/${pod} cannot start: ${reason}${state?.waiting?.message ? `: ${state.waiting.message}` : ''}`, { code: 'EphemeralNotStarted' });
    }
    if (Date.now() >= deadline) {
      throw new KubernetesError(`ephemeral container ${name} in ${namespace}/${pod} did not start within ${Math.round(timeoutMs / 1000)} s${reason ? ` (${reason})` : ''}`, { code: 'EphemeralNotStarted' });
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
