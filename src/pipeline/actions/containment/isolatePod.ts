import { PatchStrategy, setHeaderOptions, type V1NetworkPolicy } from '@kubernetes/client-node';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../../errors.js';
import type { KubeClients } from '../../../kube/clients.js';
import { kubeCall, kubeStatusCode, readOptional, toKubeError } from '../../../kube/kubeErrors.js';
import { checkNamespaceAllowed } from '../../../kube/protectedNamespace.js';
import { requireKube } from '../../../kube/requireKube.js';
import {
  ANNOTATION_CORDONED_NODE,
  type CordonDecision,
  describeAllowance,
  egressAllowanceInputSchema,
  type EgressAllowance,
  type EgressPatch,
  isolationId,
  isolationPolicyName,
  isolationPolicyProblem,
  namespaceNameSchema,
  normalizeAllowance,
  planEgressPatch,
  planPodIsolation,
  podNameSchema,
  type IsolationPlan,
} from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Also cordon the pod's node; `SENTINEL_CORDON_ON_POD_ISOLATE` when absent. */
  cordonNode: z.boolean().optional(),
  /**
   * Egress kept open: cluster DNS (`SENTINEL_ISOLATE_POD_ALLOW_DNS` when absent), CIDRs (no
   * broader than /8 or /32) and namespaces. Everything else, and all ingress, is denied.
   */
  allow: egressAllowanceInputSchema.optional(),
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
  /** The egress the isolation keeps open (all ingress is denied). */
  allowedEgress: EgressAllowance;
  /** This run changed what an existing isolation keeps open. */
  egressChanged: boolean;
  node: string | null;
  cordonRequested: boolean;
  cordon: CordonDecision;
  /** Sentinel holds a cordon on the node for this isolation (release will undo it). */
  cordoned: boolean;
  notes: string[];
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function detailsOf(plan: IsolationPlan, cordonRequested: boolean, policyCreated: boolean, egressChanged: boolean): IsolatePodDetails {
  return {
    namespace: plan.namespace,
    pod: plan.pod,
    isolationId: plan.isolationId,
    labelsAdded: plan.labelsToAdd,
    annotationsAdded: plan.annotationsToAdd,
    policyName: plan.policyName,
    policyCreated,
    allowedEgress: plan.allowedEgress,
    egressChanged,
    node: plan.node,
    cordonRequested,
    cordon: plan.cordon,
    cordoned: plan.cordoned,
    notes: plan.notes,
  };
}

function changes(plan: IsolationPlan, policyCreated: boolean, egressChanged: boolean, dryRun: boolean): string[] {
  const out: string[] = [];
  const open = `egress open only to ${describeAllowance(plan.allowedEgress)}`;
  if (plan.policyToCreate && (dryRun || policyCreated)) out.push(`${dryRun ? 'create' : 'created'} isolation NetworkPolicy ${plan.policyName} (no ingress, ${open})`);
  if ((plan.egressPatch && dryRun) || egressChanged) out.push(`${dryRun ? 'change' : 'changed'} the isolation's ${open}`);
  const labels = Object.keys(plan.labelsToAdd);
  if (labels.length > 0 || Object.keys(plan.annotationsToAdd).length > 0) {
    out.push(`${dryRun ? 'label' : 'labelled'} the pod${labels.length ? ` (${labels.join(', ')})` : ''}`);
  }
  if (plan.cordon === 'cordon' || plan.cordon === 'recordon') out.push(`${dryRun ? 'cordon' : 'cordoned'} node ${plan.node}`);
  if (plan.cordon === 'join') out.push(`${dryRun ? 'record' : 'recorded'} this isolation's hold on the cordon of node ${plan.node}`);
  return out;
}

/** Creates the policy; when it exists already (409), accepts it only if it is sentinel's working isolation for this pod. */
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

async function patchEgress(kube: KubeClients, plan: IsolationPlan, patch: EgressPatch): Promise<void> {
  await kubeCall(
    () => kube.networking.patchNamespacedNetworkPolicy({ name: plan.policyName, namespace: plan.namespace, body: patch }, MERGE_PATCH),
    `changing the allowed egress of NetworkPolicy ${plan.namespace}/${plan.policyName}`,
  );
}

/**
 * Isolates one pod: a NetworkPolicy (Ingress and Egress) selecting only this pod's
 * `sentinel.io/isolation-id` label that denies all ingress and all egress except what `allow`
 * keeps open (cluster DNS by default, CIDRs, namespaces), the labels and incident annotation on
 * the pod, and optionally a cordon of its node. Refuses system and protected namespaces before
 * any call. Idempotent: completes a partial isolation, changes an existing isolation's allowed
 * egress to what is asked, and is `skipped` when nothing is left to do.
 */
export async function isolatePod(request: ActionRequest<IsolatePodInput>, deps: ActionDeps): Promise<ActionResult<IsolatePodDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'isolate-pod');
  const { namespace, pod } = input;
  const cordonRequested = input.cordonNode ?? deps.settings.cordonOnPodIsolate;
  const allow = normalizeAllowance(input.allow, deps.settings.isolatePodAllowDns);
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces);
  const kube = requireKube(deps, 'isolate a pod');

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
  const plan = planPodIsolation({ namespace, pod: podObject, policy, cordonRequested, node, incidentId: request.incidentId, actor: request.actor, allow });

  if (plan.complete) {
    const details = detailsOf(plan, cordonRequested, false, false);
    return skipped(
      `pod ${namespace}/${pod} is already isolated (NetworkPolicy ${plan.policyName}, egress open only to ${describeAllowance(plan.allowedEgress)}${plan.cordoned ? `, node ${plan.node} cordoned` : ''})`,
      details,
    );
  }
  if (request.dryRun) {
    return planned(
      `would isolate pod ${namespace}/${pod}: ${changes(plan, false, false, true).join(', ')}`,
      detailsOf(plan, cordonRequested, Boolean(plan.policyToCreate), plan.egressPatch !== undefined),
    );
  }

  // 1. The policy first: it selects nothing until the pod carries the isolation-id label.
  let policyCreated = false;
  let egressChanged = false;
  let policyAnnotationsToAdd = plan.policyAnnotationsToAdd;
  if (plan.egressPatch) {
    await patchEgress(kube, plan, plan.egressPatch);
    egressChanged = true;
  }
  if (plan.policyToCreate) {
    const ensured = await ensurePolicy(kube, plan, plan.policyToCreate);
    policyCreated = ensured.created;
    // Another run created it meanwhile with other allowances: make it keep open what this run asks.
    const egressPatch = ensured.existing ? planEgressPatch(ensured.existing, plan.allowedEgress) : undefined;
    if (egressPatch) {
      await patchEgress(kube, plan, egressPatch);
      egressChanged = true;
    }
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
    egressChanged,
    allowedEgress: describeAllowance(plan.allowedEgress),
    labelsAdded: Object.keys(plan.labelsToAdd),
    node: plan.node,
    cordon: plan.cordon,
  });
  const details = detailsOf(plan, cordonRequested, policyCreated, egressChanged);
  const done = changes(plan, policyCreated, egressChanged, false);
  const partial = policy !== undefined || Object.keys(plan.labelsToAdd).length < 2;
  const verb = partial ? 'completed the isolation of' : 'isolated';
  return succeeded(`${verb} pod ${namespace}/${pod}${done.length ? `: ${done.join(', ')}` : ''}`, details);
}

export const isolatePodAction = defineAction({
  id: 'isolate-pod',
  containment: true,
  description:
    'Isolate a pod: label it and apply a NetworkPolicy selecting only that pod that denies all ingress and all egress except what `allow` keeps open (cluster DNS by default, CIDRs, namespaces); optionally cordon its node. Undo with release-pod.',
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
