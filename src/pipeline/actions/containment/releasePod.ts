import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { z } from 'zod';
import { ConfigError } from '../../../errors.js';
import type { KubeClients } from '../../../kube/clients.js';
import {
  ANNOTATION_CORDONED_NODE,
  isSentinelPolicy,
  isolationId,
  isolationPolicyName,
  kubeStatusCode,
  namespaceNameSchema,
  planPodRelease,
  podNameSchema,
  toKubeError,
  type ReleasePlan,
} from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
});

export type ReleasePodInput = z.output<typeof inputSchema>;

export interface ReleasePodDetails {
  namespace: string;
  pod: string;
  isolationId: string;
  /** The pod still exists. */
  podFound: boolean;
  labelsRemoved: string[];
  annotationsRemoved: string[];
  policyName: string;
  policyDeleted: boolean;
  /** A NetworkPolicy of that name exists that sentinel did not create; it was left alone. */
  foreignPolicyLeft: boolean;
  /** The node the isolation recorded a cordon on. */
  node: string | null;
  uncordoned: boolean;
  notes: string[];
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function readOptional<T>(call: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (kubeStatusCode(err) === 404) return undefined;
    throw toKubeError(err, what);
  }
}

/** Runs a write; a 404 (the object went away meanwhile) resolves to false. */
async function writeUnlessGone(call: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err) {
    if (kubeStatusCode(err) === 404) return false;
    throw toKubeError(err, what);
  }
}

function requireKube(deps: ActionDeps): KubeClients {
  if (!deps.kube) throw new ConfigError('Kubernetes is not configured (no kube clients): cannot release a pod');
  return deps.kube;
}

function detailsOf(plan: ReleasePlan, done: { policyDeleted: boolean; uncordoned: boolean; podPatched: boolean }, notes: string[]): ReleasePodDetails {
  return {
    namespace: plan.namespace,
    pod: plan.pod,
    isolationId: plan.isolationId,
    podFound: plan.podFound,
    labelsRemoved: done.podPatched ? plan.labelsToRemove : [],
    annotationsRemoved: done.podPatched ? plan.annotationsToRemove : [],
    policyName: plan.policyName,
    policyDeleted: done.policyDeleted,
    foreignPolicyLeft: plan.foreignPolicy,
    node: plan.node,
    uncordoned: done.uncordoned,
    notes,
  };
}

function changes(plan: ReleasePlan, dryRun: boolean): string[] {
  const out: string[] = [];
  if (plan.nodePatch) out.push(plan.uncordon ? `${dryRun ? 'uncordon' : 'uncordoned'} node ${plan.node}` : `${dryRun ? 'drop' : 'dropped'} this isolation's hold on node ${plan.node}`);
  if (plan.labelsToRemove.length > 0 || plan.annotationsToRemove.length > 0) out.push(`${dryRun ? 'remove' : 'removed'} the sentinel labels from the pod`);
  if (plan.deletePolicy) out.push(`${dryRun ? 'delete' : 'deleted'} NetworkPolicy ${plan.policyName}`);
  return out;
}

/**
 * Undoes `isolate-pod`: removes exactly the sentinel labels and annotation from the pod,
 * deletes the NetworkPolicy only when sentinel created it, and uncordons the node only
 * when this isolation's record says sentinel cordoned it and no other isolation holds it.
 * Works when the pod is gone (the policy is still removed). `skipped` when nothing is isolated.
 */
export async function releasePod(request: ActionRequest<ReleasePodInput>, deps: ActionDeps): Promise<ActionResult<ReleasePodDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'release-pod');
  const { namespace, pod } = input;
  const kube = requireKube(deps);

  const podObject = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  const policyName = isolationPolicyName(isolationId(namespace, pod));
  const policy = await readOptional(
    () => kube.networking.readNamespacedNetworkPolicy({ name: policyName, namespace }),
    `reading NetworkPolicy ${namespace}/${policyName}`,
  );
  const recordedNode = policy && isSentinelPolicy(policy) ? policy.metadata?.annotations?.[ANNOTATION_CORDONED_NODE] : undefined;
  const node = recordedNode ? await readOptional(() => kube.core.readNode({ name: recordedNode }), `reading node ${recordedNode}`) : undefined;
  const plan = planPodRelease({ namespace, pod, podObject, policy, node });

  if (plan.notIsolated) {
    const why = plan.podFound ? '' : ' (pod not found)';
    const foreign = plan.foreignPolicy ? `; NetworkPolicy ${plan.policyName} was not created by sentinel and was left alone` : '';
    return skipped(`pod ${namespace}/${pod} is not isolated${why}: nothing to release${foreign}`, detailsOf(plan, { policyDeleted: false, uncordoned: false, podPatched: false }, plan.notes));
  }
  const gone = plan.podFound ? '' : ' (the pod no longer exists)';
  if (request.dryRun) {
    return planned(
      `would release pod ${namespace}/${pod}${gone}: ${changes(plan, true).join(', ')}`,
      { ...detailsOf(plan, { policyDeleted: plan.deletePolicy, uncordoned: plan.uncordon, podPatched: true }, plan.notes) },
    );
  }

  const notes = [...plan.notes];
  // 1. The node first: the policy holds the record of the cordon.
  let uncordoned = false;
  if (plan.nodePatch && node) {
    const patch = plan.nodePatch;
    const body = { ...patch.body, metadata: { ...patch.body.metadata, resourceVersion: node.metadata?.resourceVersion } };
    const ok = await writeUnlessGone(() => kube.core.patchNode({ name: patch.name, body }, MERGE_PATCH), `uncordoning node ${patch.name}`);
    uncordoned = ok && plan.uncordon;
    if (!ok) notes.push(`node ${patch.name} disappeared before it could be uncordoned`);
  }

  // 2. The pod: remove exactly the sentinel labels and annotation (null removes a key in a merge patch).
  let podPatched = false;
  if (plan.podFound && (plan.labelsToRemove.length > 0 || plan.annotationsToRemove.length > 0)) {
    const metadata = {
      ...(plan.labelsToRemove.length ? { labels: Object.fromEntries(plan.labelsToRemove.map((k) => [k, null])) } : {}),
      ...(plan.annotationsToRemove.length ? { annotations: Object.fromEntries(plan.annotationsToRemove.map((k) => [k, null])) } : {}),
    };
    podPatched = await writeUnlessGone(
      () => kube.core.patchNamespacedPod({ name: pod, namespace, body: { metadata } }, MERGE_PATCH),
      `removing the sentinel labels from pod ${namespace}/${pod}`,
    );
    if (!podPatched) notes.push(`pod ${namespace}/${pod} disappeared before its labels could be removed`);
  }

  // 3. The policy last (only sentinel's own).
  let policyDeleted = false;
  if (plan.deletePolicy) {
    policyDeleted = await writeUnlessGone(
      () => kube.networking.deleteNamespacedNetworkPolicy({ name: plan.policyName, namespace }),
      `deleting NetworkPolicy ${namespace}/${plan.policyName}`,
    );
    if (!policyDeleted) notes.push(`NetworkPolicy ${plan.policyName} was already gone`);
  }

  deps.logger.info('pod released', { namespace, pod, podFound: plan.podFound, policyName: plan.policyName, policyDeleted, node: plan.node, uncordoned });
  return succeeded(
    `released pod ${namespace}/${pod}${gone}: ${changes(plan, false).join(', ')}`,
    detailsOf(plan, { policyDeleted, uncordoned, podPatched }, notes),
  );
}

export const releasePodAction = defineAction({
  id: 'release-pod',
  description:
    'Release a pod isolated by isolate-pod: remove its sentinel labels, delete the NetworkPolicy sentinel created, and uncordon its node only if sentinel cordoned it.',
  permissions: {
    iam: [],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'delete'] },
      // Only used when the isolation recorded a cordon.
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    ],
  },
  input: inputSchema,
  run: releasePod,
});
