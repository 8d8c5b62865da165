import { PatchStrategy, setHeaderOptions, type V1NetworkPolicy } from '@kubernetes/client-node';
import { z } from 'zod';
import { ConfigError, ConflictError, NotFoundError } from '../../errors.js';
import type { KubeClients } from '../../kube/clients.js';
import {
  ANNOTATION_CORDONED_NODE,
  type CordonDecision,
  checkNamespaceAllowed,
  isolationId,
  isolationPolicyName,
  isolationPolicyProblem,
  kubeStatusCode,
  namespaceNameSchema,
  planPodIsolation,
  podNameSchema,
  toKubeError,
  type IsolationPlan,
} from '../planning/planPodIsolation.js';
import { parseActionInput } from './parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from './types.js';

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Also cordon the pod's node; `SENTINEL_CORDON_ON_POD_ISOLATE` when absent. */
  cordonNode: z.boolean().optional(),
});

export type IsolatePodInput = z.output<typeof inputSchema>;

export interface IsolatePodDetails {
  namespace: string;
  pod: string;
  isolationId: string;
  /** Labels this run added to the pod (all of them would be added in a dry run). */
  labelsAdded: Record<string, string>;
  annotationsAdded: Record<string, string>;
  policyName: string;
  /** This run created the NetworkPolicy. */
  policyCreated: boolean;
  node: string | null;
  cordonRequested: boolean;
  cordon: CordonDecision;
  /** Sentinel holds a cordon on the node for this isolation (release will undo it). */
  cordoned: boolean;
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

async function kubeCall<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toKubeError(err, what);
  }
}

function requireKube(deps: ActionDeps): KubeClients {
  if (!deps.kube) throw new ConfigError('Kubernetes is not configured (no kube clients): cannot isolate a pod');
  return deps.kube;
}

function detailsOf(plan: IsolationPlan, cordonRequested: boolean, policyCreated: boolean): IsolatePodDetails {
  return {
    namespace: plan.namespace,
    pod: plan.pod,
    isolationId: plan.isolationId,
    labelsAdded: plan.labelsToAdd,
    annotationsAdded: plan.annotationsToAdd,
    policyName: plan.policyName,
    policyCreated,
    node: plan.node,
    cordonRequested,
    cordon: plan.cordon,
    cordoned: plan.cordoned,
    notes: plan.notes,
  };
}

function changes(plan: IsolationPlan, policyCreated: boolean, dryRun: boolean): string[] {
  const out: string[] = [];
  if (plan.policyToCreate && (dryRun || policyCreated)) out.push(`${dryRun ? 'create' : 'created'} deny-all NetworkPolicy ${plan.policyName}`);
  const labels = Object.keys(plan.labelsToAdd);
  if (labels.length > 0 || Object.keys(plan.annotationsToAdd).length > 0) {
    out.push(`${dryRun ? 'label' : 'labelled'} the pod${labels.length ? ` (${labels.join(', ')})` : ''}`);
  }
  if (plan.cordon === 'cordon' || plan.cordon === 'recordon') out.push(`${dryRun ? 'cordon' : 'cordoned'} node ${plan.node}`);
  if (plan.cordon === 'join') out.push(`${dryRun ? 'record' : 'recorded'} this isolation's hold on the cordon of node ${plan.node}`);
  return out;
}

/** Creates the policy; when it exists already (409), accepts it only if it is sentinel's working deny-all for this pod. */
async function ensurePolicy(kube: KubeClients, plan: IsolationPlan, body: V1NetworkPolicy): Promise<{ created: boolean; existing?: V1NetworkPolicy }> {
  try {
    await kube.networking.createNamespacedNetworkPolicy({ namespace: plan.namespace, body });
    return { created: true };
  } catch (err) {
    if (kubeStatusCode(err) !== 409) throw toKubeError(err, `creating NetworkPolicy ${plan.namespace}/${plan.policyName}`);
  }
  const existing = await kubeCall(
    () => kube.networking.readNamespacedNetworkPolicy({ name: plan.policyName, namespace: plan.namespace }),
    `reading NetworkPolicy ${plan.namespace}/${plan.policyName}`,
  );
  const problem = isolationPolicyProblem(existing, plan.isolationId);
  if (problem) throw new ConflictError(`refusing to isolate ${plan.namespace}/${plan.pod}: ${problem}`, { code: 'PolicyConflict', details: { policyName: plan.policyName } });
  return { created: false, existing };
}

/**
 * Isolates one pod: a deny-all (Ingress and Egress) NetworkPolicy selecting only this pod's
 * `sentinel.io/isolation-id` label, the labels and incident annotation on the pod, and
 * optionally a cordon of its node. Refuses system and protected namespaces before any call.
 * Idempotent: completes a partial isolation, and is `skipped` when nothing is left to do.
 */
export async function isolatePod(request: ActionRequest<IsolatePodInput>, deps: ActionDeps): Promise<ActionResult<IsolatePodDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'isolate-pod');
  const { namespace, pod } = input;
  const cordonRequested = input.cordonNode ?? deps.settings.cordonOnPodIsolate;
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces);
  const kube = requireKube(deps);

  // Preflight: read what is there, decide what would change.
  const podObject = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  if (!podObject) throw new NotFoundError(`pod ${namespace}/${pod} not found`, { details: { namespace, pod } });
  const policyName = isolationPolicyName(isolationId(namespace, pod));
  const policy = await readOptional(
    () => kube.networking.readNamespacedNetworkPolicy({ name: policyName, namespace }),
    `reading NetworkPolicy ${namespace}/${policyName}`,
  );
  const nodeName = podObject.spec?.nodeName;
  const node =
    cordonRequested && nodeName ? await readOptional(() => kube.core.readNode({ name: nodeName }), `reading node ${nodeName}`) : undefined;
  const plan = planPodIsolation({ namespace, pod: podObject, policy, cordonRequested, node, incidentId: request.incidentId, actor: request.actor });

  if (plan.complete) {
    const details = detailsOf(plan, cordonRequested, false);
    return skipped(`pod ${namespace}/${pod} is already isolated (NetworkPolicy ${plan.policyName}${plan.cordoned ? `, node ${plan.node} cordoned` : ''})`, details);
  }
  if (request.dryRun) {
    return planned(`would isolate pod ${namespace}/${pod}: ${changes(plan, false, true).join(', ')}`, detailsOf(plan, cordonRequested, Boolean(plan.policyToCreate)));
  }

  // 1. The policy first: it selects nothing until the pod carries the isolation-id label.
  let policyCreated = false;
  let policyAnnotationsToAdd = plan.policyAnnotationsToAdd;
  if (plan.policyToCreate) {
    const ensured = await ensurePolicy(kube, plan, plan.policyToCreate);
    policyCreated = ensured.created;
    const wanted = plan.policyToCreate.metadata?.annotations ?? {};
    const have = ensured.existing?.metadata?.annotations ?? {};
    // Someone else's run created it meanwhile: still record this run's cordon on it.
    const record = Object.entries(wanted).filter(([k, v]) => k === ANNOTATION_CORDONED_NODE && have[k] !== v);
    if (ensured.existing && record.length > 0) policyAnnotationsToAdd = Object.fromEntries(record);
  }

  // 2. Label the pod: the policy now applies to it.
  if (Object.keys(plan.labelsToAdd).length > 0 || Object.keys(plan.annotationsToAdd).length > 0) {
    await kubeCall(
      () =>
        kube.core.patchNamespacedPod(
          { name: pod, namespace, body: { metadata: { labels: plan.labelsToAdd, annotations: plan.annotationsToAdd } } },
          MERGE_PATCH,
        ),
      `labelling pod ${namespace}/${pod}`,
    );
  }

  // 3. Record the cordon on the policy before touching the node, so release can find it.
  if (Object.keys(policyAnnotationsToAdd).length > 0) {
    await kubeCall(
      () =>
        kube.networking.patchNamespacedNetworkPolicy(
          { name: plan.policyName, namespace, body: { metadata: { annotations: policyAnnotationsToAdd } } },
          MERGE_PATCH,
        ),
      `recording the cordon on NetworkPolicy ${namespace}/${plan.policyName}`,
    );
  }

  // 4. Cordon (or join the cordon of) the node, with this isolation's key, in one patch.
  //    The resourceVersion makes it fail rather than act on a node changed since it was read.
  if (plan.nodePatch && node) {
    const patch = plan.nodePatch;
    const body = { ...patch.body, metadata: { ...patch.body.metadata, resourceVersion: node.metadata?.resourceVersion } };
    await kubeCall(() => kube.core.patchNode({ name: patch.name, body }, MERGE_PATCH), `cordoning node ${patch.name}`);
  }

  deps.logger.info('pod isolated', {
    namespace,
    pod,
    policyName: plan.policyName,
    policyCreated,
    labelsAdded: Object.keys(plan.labelsToAdd),
    node: plan.node,
    cordon: plan.cordon,
  });
  const details = detailsOf(plan, cordonRequested, policyCreated);
  const done = changes(plan, policyCreated, false);
  const partial = policy !== undefined || Object.keys(plan.labelsToAdd).length < 2;
  const verb = partial ? 'completed the isolation of' : 'isolated';
  return succeeded(`${verb} pod ${namespace}/${pod}${done.length ? `: ${done.join(', ')}` : ''}`, details);
}

export const isolatePodAction = defineAction({
  id: 'isolate-pod',
  containment: true,
  description:
    'Isolate a pod: label it and apply a deny-all (ingress and egress) NetworkPolicy selecting only that pod; optionally cordon its node. Undo with release-pod.',
  permissions: {
    iam: [],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'patch'] },
      // Only used when cordoning (cordonNode or SENTINEL_CORDON_ON_POD_ISOLATE).
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    ],
  },
  input: inputSchema,
  run: isolatePod,
});
