import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

/** The annotation the kubelet puts on the API copy (mirror) of a static pod. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** The pod's managing controller (the ownerReference with `controller: true`), if any. */
export function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return (pod.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
}

/** A static pod's mirror: deleting or evicting it through the API does not stop it. */
export function isMirrorPod(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined;
}

export function isDaemonSetPod(pod: V1Pod): boolean {
  return controllerOf(pod)?.kind === 'DaemonSet';
}
