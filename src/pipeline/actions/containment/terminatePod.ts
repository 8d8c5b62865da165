import type { V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { ProtectedTargetError, ValidationError } from '../../../errors.js';
import { kubeStatusCode, readOptional, toKubeError } from '../../../kube/kubeErrors.js';
import { controllerOf, isMirrorPod } from '../../../kube/podController.js';
import { checkNamespaceAllowed } from '../../../kube/protectedNamespace.js';
import { requireKube } from '../../../kube/requireKube.js';
import { namespaceNameSchema, podNameSchema } from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

/** The longest grace period a step may ask for: an hour. */
export const MAX_TERMINATE_GRACE_SECONDS = 3600;

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Seconds the containers get to stop (SIGTERM, then SIGKILL); the pod's own terminationGracePeriodSeconds when absent. */
  gracePeriodSeconds: z.number().int().min(1).max(MAX_TERMINATE_GRACE_SECONDS).optional(),
  /** Also delete a pod that no controller manages: nothing will recreate it. */
  force: z.boolean().optional(),
});

export type TerminatePodInput = z.output<typeof inputSchema>;

export interface TerminatePodDetails {
  namespace: string;
  pod: string;
  /** The uid deleted (the delete is conditioned on it, so a pod recreated under the same name is never hit). */
  uid: string | null;
  node: string | null;
  /** The managing controller, e.g. `{ kind: 'ReplicaSet', name: 'web-7d9f8' }`; null for a bare pod. */
  controller: { kind: string; name: string } | null;
  gracePeriodSeconds: number;
  force: boolean;
  /** When the API will remove the pod (deletionTimestamp), once deleted. */
  deletionTimestamp: string | null;
  notes: string[];
}

function replacement(controller: { kind: string; name: string } | null): string {
  if (!controller) return 'it has no controller: nothing will recreate it';
  if (controller.kind === 'DaemonSet') return `its DaemonSet ${controller.name} will start a new one on the same node`;
  return `its ${controller.kind} ${controller.name} will replace it`;
}

function detailsOf(input: TerminatePodInput, pod: V1Pod, grace: number, deletionTimestamp: string | null, notes: string[]): TerminatePodDetails {
  const owner = controllerOf(pod);
  return {
    namespace: input.namespace,
    pod: input.pod,
    uid: pod.metadata?.uid ?? null,
    node: pod.spec?.nodeName ?? null,
    controller: owner ? { kind: owner.kind, name: owner.name } : null,
    gracePeriodSeconds: grace,
    force: input.force === true,
    deletionTimestamp,
    notes,
  };
}

const timestamp = (d: Date | undefined): string | null => (d ? new Date(d).toISOString() : null);

/**
 * Deletes a pod with a grace period (SIGTERM, then SIGKILL once it runs out), only the pod that
 * was read (uid precondition). Refuses system and protected namespaces, mirror pods (the kubelet
 * runs them from a file; deleting the API object does not stop them) and pods without a
 * controller unless `force: true` (nothing would recreate them). A pod already gone or already
 * terminating is `skipped`. The containers' memory and writable layers are lost: collect first.
 */
export async function terminatePod(request: ActionRequest<TerminatePodInput>, deps: ActionDeps): Promise<ActionResult<TerminatePodDetails | Record<string, unknown>>> {
  const input = parseActionInput(inputSchema, request.input, 'terminate-pod');
  const { namespace, pod } = input;
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces, 'terminate a pod');
  const kube = requireKube(deps, 'terminate a pod');

  const current = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  if (!current) return skipped(`pod ${namespace}/${pod} does not exist (already deleted?): nothing to terminate`, { namespace, pod, found: false });
  const specGrace = current.spec?.terminationGracePeriodSeconds ?? 30;
  const grace = input.gracePeriodSeconds ?? specGrace;
  if (current.metadata?.deletionTimestamp) {
    const at = timestamp(current.metadata.deletionTimestamp);
    return skipped(
      `pod ${namespace}/${pod} is already terminating (removed by ${at})`,
      detailsOf(input, current, current.metadata.deletionGracePeriodSeconds ?? grace, at, []),
    );
  }
  if (isMirrorPod(current)) {
    throw new ProtectedTargetError(
      `refusing to terminate pod ${namespace}/${pod}: it is the mirror of a static pod, which the kubelet runs from a file on node ${current.spec?.nodeName ?? '?'}; deleting it through the API does not stop it (isolate the pod or the node instead)`,
      { code: 'MirrorPod' },
    );
  }
  const owner = controllerOf(current);
  const controller = owner ? { kind: owner.kind, name: owner.name } : null;
  if (!controller && input.force !== true) {
    throw new ValidationError(
      `refusing to terminate pod ${namespace}/${pod}: it has no controller (ownerReferences), so nothing would recreate it; pass force: true to delete it anyway`,
      { code: 'NoController' },
    );
  }
  const what = `pod ${namespace}/${pod} (grace period ${grace} s)`;
  const after = replacement(controller);
  if (request.dryRun) {
    return planned(`would terminate ${what}: ${after}`, { ...detailsOf(input, current, grace, null, []), command: { gracePeriodSeconds: grace, preconditions: { uid: current.metadata?.uid } } });
  }

  let deleted: V1Pod;
  try {
    deleted = await kube.core.deleteNamespacedPod({
      name: pod,
      namespace,
      gracePeriodSeconds: grace,
      body: { gracePeriodSeconds: grace, preconditions: { uid: current.metadata?.uid } },
    });
  } catch (err) {
    const code = kubeStatusCode(err);
    if (code === 404) return skipped(`pod ${namespace}/${pod} was deleted meanwhile: nothing to terminate`, detailsOf(input, current, grace, null, ['the pod disappeared between the read and the delete']));
    if (code === 409) {
      return skipped(
        `pod ${namespace}/${pod} was replaced by a new pod of the same name since it was read; the new one was left alone`,
        detailsOf(input, current, grace, null, ['uid precondition failed: the pod read is gone, a new pod has its name']),
      );
    }
    throw toKubeError(err, `deleting pod ${namespace}/${pod}`);
  }
  const at = timestamp(deleted.metadata?.deletionTimestamp);
  deps.logger.info('pod terminated', { namespace, pod, uid: current.metadata?.uid, gracePeriodSeconds: grace, controller: controller ? `${controller.kind}/${controller.name}` : null, force: input.force === true });
  const notes = controller ? [] : ['a bare pod: nothing will recreate it'];
  return succeeded(`terminated ${what}: ${after}`, detailsOf(input, current, grace, at, notes));
}

export const terminatePodAction = defineAction({
  id: 'terminate-pod',
  containment: true,
  description:
    'Terminate a pod: delete it with a grace period (only the pod that was read: uid precondition); refuses system and protected namespaces, mirror pods, and pods without a controller unless forced. Its memory and writable layer are lost.',
  permissions: {
    iam: [],
    rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }],
  },
  // The containers' processes die with the pod.
  destroysMemory: true,
  input: inputSchema,
  run: terminatePod,
});
