import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { z } from 'zod';
import { NotFoundError } from '../../../errors.js';
import { evictPod } from '../../../kube/evictPod.js';
import { kubeCall, readOptional } from '../../../kube/kubeErrors.js';
import { requireKube } from '../../../kube/requireKube.js';
import { checkNodeAllowed, describeLeft, planNodeDrain, type DrainCordon, type DrainPlan, type LeftPod, type PodRef } from '../../planning/planNodeDrain.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const inputSchema = z.strictObject({
  node: z.string().max(253).regex(DNS_SUBDOMAIN, 'a node name (lowercase RFC 1123 subdomain)'),
  /** Also evict pods no controller manages (nothing recreates them). */
  force: z.boolean().optional(),
  /** Also evict pods with emptyDir volumes (their data is lost). */
  deleteEmptyDirData: z.boolean().optional(),
  /** Grace period of the evicted pods; each pod's own when absent. */
  gracePeriodSeconds: z.number().int().min(1).max(3600).optional(),
  /** How often an eviction a PodDisruptionBudget refuses (429) is retried (default 3). */
  evictionRetries: z.number().int().min(0).max(10).optional(),
  /** Seconds between those retries (default 5). */
  retryDelaySeconds: z.number().int().min(0).max(60).optional(),
});

export type DrainNodeInput = z.output<typeof inputSchema>;

export interface DrainNodeDetails {
  node: string;
  cordon: DrainCordon;
  /** The node is cordoned once the drain has run (by this drain or someone else). */
  cordoned: boolean;
  evicted: (PodRef & { attempts: number })[];
  /** Pods that stay on the node, with why (DaemonSet, mirror, protected namespace, no controller, emptyDir, disruption budget…). */
  left: LeftPod[];
  /** Pods already terminating, and pods that went away before their eviction. */
  terminating: PodRef[];
  notes: string[];
}

const ref = (pod: { metadata?: { namespace?: string; name?: string } }): PodRef => ({ namespace: pod.metadata?.namespace ?? '', pod: pod.metadata?.name ?? '' });

function cordonText(cordon: DrainCordon, node: string, dryRun: boolean): string {
  switch (cordon) {
    case 'cordon':
      return dryRun ? `cordon node ${node}` : `cordoned node ${node}`;
    case 'recordon':
      return dryRun ? `cordon node ${node} again (it was uncordoned)` : `cordoned node ${node} again (it had been uncordoned)`;
    case 'held':
      return `node ${node} stays cordoned`;
    case 'join':
      return dryRun ? `record this drain on the cordon a sentinel isolation holds on node ${node}` : `node ${node} was already cordoned for a sentinel isolation: this drain now holds it too`;
    case 'cordoned-by-others':
      return `node ${node} was already cordoned by someone else (left as it is)`;
  }
}

function detailsOf(plan: DrainPlan, evicted: DrainNodeDetails['evicted'], left: LeftPod[], terminating: PodRef[], notes: string[]): DrainNodeDetails {
  return { node: plan.node, cordon: plan.cordon, cordoned: true, evicted, left, terminating, notes };
}

/**
 * Drains a node: cordons it (recording `sentinel.io/cordon-drain`), then evicts every pod on it
 * through the Eviction API, which honours PodDisruptionBudgets (a 429 is retried a bounded
 * number of times, then reported), except DaemonSet pods, mirror pods, pods in system or
 * protected namespaces, and, unless asked, pods without a controller or with emptyDir data.
 * Refuses protected nodes. Idempotent: a rerun evicts only what is left, and is `skipped` when
 * the node is cordoned and nothing is left to evict. Evicted pods terminate within their grace
 * period; their controllers start replacements elsewhere.
 */
export async function drainNode(request: ActionRequest<DrainNodeInput>, deps: ActionDeps): Promise<ActionResult<DrainNodeDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'drain-node');
  const kube = requireKube(deps, 'drain a node');
  const node = await readOptional(() => kube.core.readNode({ name: input.node }), `reading node ${input.node}`);
  if (!node) throw new NotFoundError(`node ${input.node} not found`, { code: 'NodeNotFound', details: { node: input.node } });
  checkNodeAllowed(node, deps.settings.protectedNodeLabels);

  const list = await kubeCall(() => kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${input.node}` }), `listing the pods on node ${input.node}`);
  const plan = planNodeDrain(node, list.items, { force: input.force === true, deleteEmptyDirData: input.deleteEmptyDirData === true, protectedNamespaces: deps.settings.protectedNamespaces }, request.incidentId);
  const leftText = (left: LeftPod[]) => (left.length ? `; left ${describeLeft(left)}` : '');

  if (plan.evict.length === 0 && plan.nodePatch === undefined) {
    const waiting = plan.terminating.length ? `; ${plan.terminating.length} pod${plan.terminating.length === 1 ? '' : 's'} still terminating` : '';
    return skipped(`node ${plan.node} is already drained: ${cordonText(plan.cordon, plan.node, false)}, nothing left to evict${waiting}${leftText(plan.left)}`, detailsOf(plan, [], plan.left, plan.terminating, []));
  }
  if (request.dryRun) {
    const pods = plan.evict.map((p) => `${ref(p).namespace}/${ref(p).pod}`);
    return planned(
      `would drain node ${plan.node}: ${cordonText(plan.cordon, plan.node, true)}, evict ${pods.length} pod${pods.length === 1 ? '' : 's'}${pods.length ? ` (${pods.join(', ')})` : ''}${leftText(plan.left)}`,
      { ...detailsOf(plan, plan.evict.map((p) => ({ ...ref(p), attempts: 0 })), plan.left, plan.terminating, []) },
    );
  }

  // 1. Cordon first, so nothing new lands on the node while it is drained. The resourceVersion
  //    makes the patch fail rather than act on a node changed since it was read.
  if (plan.nodePatch) {
    const body = { ...plan.nodePatch, metadata: { ...plan.nodePatch.metadata, resourceVersion: node.metadata?.resourceVersion } };
    await kubeCall(() => kube.core.patchNode({ name: plan.node, body }, MERGE_PATCH), `cordoning node ${plan.node}`);
  }

  // 2. Evict, one pod at a time, each conditioned on the uid that was read.
  const evicted: DrainNodeDetails['evicted'] = [];
  const left = [...plan.left];
  const terminating = [...plan.terminating];
  const retries = input.evictionRetries ?? 3;
  const delayMs = (input.retryDelaySeconds ?? 5) * 1000;
  for (const pod of plan.evict) {
    const outcome = await evictPod(kube, pod, { retries, delayMs, gracePeriodSeconds: input.gracePeriodSeconds });
    if (outcome.result === 'evicted') evicted.push({ ...ref(pod), attempts: outcome.attempts });
    else if (outcome.result === 'gone') terminating.push(ref(pod));
    else left.push({ ...ref(pod), kind: outcome.kind, reason: outcome.reason });
  }

  const notes = evicted.length ? ['evicted pods terminate within their grace period; their controllers start replacements on other nodes'] : [];
  notes.push(`uncordon with kubectl uncordon ${plan.node} (and remove the sentinel.io/cordon-drain annotation) once the node is cleared`);
  deps.logger.info('node drained', { node: plan.node, cordon: plan.cordon, evicted: evicted.length, left: left.map((l) => `${l.namespace}/${l.pod}:${l.kind}`) });
  const count = `evicted ${evicted.length} pod${evicted.length === 1 ? '' : 's'}`;
  return succeeded(`drained node ${plan.node}: ${cordonText(plan.cordon, plan.node, false)}, ${count}${leftText(left)}`, detailsOf(plan, evicted, left, terminating, notes));
}

export const drainNodeAction = defineAction({
  id: 'drain-node',
  containment: true,
  description:
    'Drain a node: cordon it, then evict its pods through the Eviction API (PodDisruptionBudgets honoured; a refusal is retried a few times, then reported), leaving DaemonSet and mirror pods, protected namespaces and, unless asked, bare pods and emptyDir data; refuses protected nodes.',
  permissions: {
    iam: [],
    rbac: [
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      // Cluster-wide: the pods on one node, in every namespace (read only).
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    ],
  },
  // The evicted pods' processes die.
  destroysMemory: true,
  input: inputSchema,
  run: drainNode,
});
