import type { V1NetworkPolicy, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConflictError, KubernetesError, NotFoundError, ProtectedTargetError, ValidationError } from '../../../src/errors.js';
import {
  ANNOTATION_CORDONED_NODE,
  ANNOTATION_INCIDENT,
  LABEL_CREATED_BY,
  LABEL_ISOLATED,
  LABEL_ISOLATION_ID,
  NO_EGRESS,
  buildEgressRules,
  buildIsolationPolicy,
  egressAllowanceInputSchema,
  normalizeAllowance,
  planEgressPatch,
  recordedAllowance,
  checkNamespaceAllowed,
  isolationId,
  isolationPolicyName,
  isolationPolicyProblem,
  namespaceNameSchema,
  nodeCordonAnnotation,
  planPodIsolation,
  planPodRelease,
  podNameSchema,
  toKubeError,
  type IsolationState,
} from '../../../src/pipeline/planning/planPodIsolation.js';

const NS = 'web';
const POD = 'wordpress-0';
const ID = isolationId(NS, POD);
const NODE = 'ip-10-0-1-10.ap-northeast-2.compute.internal';

function pod(opts: { labels?: Record<string, string>; annotations?: Record<string, string>; nodeName?: string | null; hostNetwork?: boolean } = {}): V1Pod {
  return {
    metadata: { name: POD, namespace: NS, labels: { app: 'wordpress', ...opts.labels }, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: {
      containers: [{ name: 'wordpress' }],
      ...(opts.nodeName === null ? {} : { nodeName: opts.nodeName ?? NODE }),
      ...(opts.hostNetwork ? { hostNetwork: true } : {}),
    },
  };
}

function node(opts: { unschedulable?: boolean; annotations?: Record<string, string> } = {}): V1Node {
  return { metadata: { name: NODE, annotations: opts.annotations ?? {} }, spec: opts.unschedulable ? { unschedulable: true } : {} };
}

function sentinelPolicy(cordonedNode?: string): V1NetworkPolicy {
  return buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'cli', cordonedNode });
}

function state(overrides: Partial<IsolationState> = {}): IsolationState {
  return { namespace: NS, pod: pod(), policy: undefined, cordonRequested: false, node: undefined, incidentId: 'inc-1', actor: 'discord:42', allow: NO_EGRESS, ...overrides };
}

const ISOLATED = { [LABEL_ISOLATED]: 'true', [LABEL_ISOLATION_ID]: ID };

describe('isolation names', () => {
  it('derives a short stable id per namespace/pod and a valid policy name from it', () => {
    expect(ID).toMatch(/^[0-9a-f]{10}$/);
    expect(isolationId(NS, POD)).toBe(ID);
    expect(isolationId(NS, 'wordpress-1')).not.toBe(ID);
    expect(isolationId('other', POD)).not.toBe(ID);
    expect(isolationPolicyName(ID)).toBe(`sentinel-isolate-${ID}`);
    expect(nodeCordonAnnotation(ID)).toBe(`sentinel.io/cordon-${ID}`);
  });

  it('accepts DNS names and refuses anything else', () => {
    expect(namespaceNameSchema.safeParse('web').success).toBe(true);
    expect(podNameSchema.safeParse('web-6d8f7c9b4-x2x9k').success).toBe(true);
    expect(podNameSchema.safeParse('a.b-c').success).toBe(true);
    for (const bad of ['Web', 'web_1', '-web', 'web-', '', 'a'.repeat(64), 'web/x', 'web ns']) {
      expect(namespaceNameSchema.safeParse(bad).success, bad).toBe(false);
    }
    for (const bad of ['Pod', 'pod_1', '.pod', 'pod..x', '', 'a'.repeat(254), '../etc']) {
      expect(podNameSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('checkNamespaceAllowed', () => {
  it.each(['kube-system', 'kube-public', 'kube-node-lease'])('always refuses the system namespace %s', (ns) => {
    expect(() => checkNamespaceAllowed(ns, [])).toThrow(ProtectedTargetError);
  });

  it('refuses configured protected namespaces and allows the rest', () => {
    expect(() => checkNamespaceAllowed('payments', ['payments', 'vault'])).toThrow(/protected namespace payments/);
    expect(() => checkNamespaceAllowed('web', ['payments', 'vault'])).not.toThrow();
  });
});

describe('buildIsolationPolicy', () => {
  it('selects exactly the pod by its isolation id and denies all ingress and egress', () => {
    expect(buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'discord:42', cordonedNode: NODE })).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: `sentinel-isolate-${ID}`,
        namespace: NS,
        labels: { 'sentinel.io/created-by': 'sentinel', 'sentinel.io/isolation-id': ID },
        annotations: {
          'sentinel.io/incident': 'inc-1',
          'sentinel.io/actor': 'discord:42',
          'sentinel.io/pod': POD,
          'sentinel.io/allowed-egress': '{"dns":false,"cidrs":[],"namespaces":[]}',
          'sentinel.io/cordoned-node': NODE,
        },
      },
      spec: { podSelector: { matchLabels: { 'sentinel.io/isolation-id': ID } }, policyTypes: ['Ingress', 'Egress'] },
    });
  });

  it('records no cordon when none is held', () => {
    expect(sentinelPolicy().metadata?.annotations).not.toHaveProperty(ANNOTATION_CORDONED_NODE);
  });

  it('tells a working sentinel policy from a foreign or modified one', () => {
    expect(isolationPolicyProblem(sentinelPolicy(), ID)).toBeUndefined();
    const foreign = sentinelPolicy();
    delete foreign.metadata!.labels![LABEL_CREATED_BY];
    expect(isolationPolicyProblem(foreign, ID)).toMatch(/not created by sentinel/);
    const widened = sentinelPolicy();
    widened.spec!.egress = [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }];
    expect(isolationPolicyProblem(widened, ID)).toMatch(/modified/);
    const ingressOnly = sentinelPolicy();
    ingressOnly.spec!.policyTypes = ['Ingress'];
    expect(isolationPolicyProblem(ingressOnly, ID)).toMatch(/modified/);
    const broader = sentinelPolicy();
    broader.spec!.podSelector = {};
    expect(isolationPolicyProblem(broader, ID)).toMatch(/modified/);
  });
});

describe('egress kept open by an isolation', () => {
  const ALLOW = normalizeAllowance({ dns: true, cidrs: ['10.20.0.0/16', '10.20.0.0/16', '192.0.2.7/32'], namespaces: ['logging', 'monitoring'] }, false);

  it('normalises the allowance: sorted, no duplicates, DNS from the default unless given', () => {
    expect(ALLOW).toEqual({ dns: true, cidrs: ['10.20.0.0/16', '192.0.2.7/32'], namespaces: ['logging', 'monitoring'] });
    expect(normalizeAllowance(undefined, true)).toEqual({ dns: true, cidrs: [], namespaces: [] });
    expect(normalizeAllowance({ dns: false }, true).dns).toBe(false);
  });

  it('builds one egress rule per kind: kube-dns on port 53, CIDRs, namespaces by their name label', () => {
    expect(buildEgressRules(ALLOW)).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      { to: [{ ipBlock: { cidr: '10.20.0.0/16' } }, { ipBlock: { cidr: '192.0.2.7/32' } }] },
      {
        to: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'logging' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
        ],
      },
    ]);
    expect(buildEgressRules(NO_EGRESS)).toEqual([]);
  });

  it('records the allowance on the policy, and reads it back (none on a policy made before allowances)', () => {
    const policy = buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'cli', allow: ALLOW });
    expect(policy.spec?.egress).toEqual(buildEgressRules(ALLOW));
    expect(recordedAllowance(policy)).toEqual(ALLOW);
    expect(isolationPolicyProblem(policy, ID)).toBeUndefined();
    const legacy = sentinelPolicy();
    delete legacy.metadata!.annotations!['sentinel.io/allowed-egress'];
    expect(recordedAllowance(legacy)).toEqual(NO_EGRESS);
    expect(isolationPolicyProblem(legacy, ID)).toBeUndefined();
  });

  it('calls a policy modified when its egress no longer matches its record', () => {
    const policy = buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'cli', allow: ALLOW });
    policy.spec!.egress![1] = { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] };
    expect(isolationPolicyProblem(policy, ID)).toMatch(/modified/);
    const forged = buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'cli', allow: ALLOW });
    forged.metadata!.annotations!['sentinel.io/allowed-egress'] = 'not json';
    expect(isolationPolicyProblem(forged, ID)).toMatch(/modified/);
  });

  it('plans a patch of the egress and its record when another allowance is asked, none when the same', () => {
    const policy = buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'cli', allow: ALLOW });
    expect(planEgressPatch(policy, ALLOW)).toBeUndefined();
    expect(planEgressPatch(policy, NO_EGRESS)).toEqual({ spec: { egress: null }, metadata: { annotations: { 'sentinel.io/allowed-egress': '{"dns":false,"cidrs":[],"namespaces":[]}' } } });
    const plan = planPodIsolation(state({ pod: pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'inc-0' } }), policy, allow: normalizeAllowance({ dns: true }, false) }));
    expect(plan.complete).toBe(false);
    expect(plan.egressPatch?.spec.egress).toEqual(buildEgressRules({ dns: true, cidrs: [], namespaces: [] }));
    expect(plan.allowedEgress).toEqual({ dns: true, cidrs: [], namespaces: [] });
  });

  it('refuses CIDRs broader than /8 or /32, bad CIDRs, bad namespaces and too many entries', () => {
    expect(egressAllowanceInputSchema.parse({ cidrs: ['10.1.2.3/8', '2001:db8::/32'] })).toEqual({ cidrs: ['10.0.0.0/8', '2001:db8::/32'] });
    for (const bad of [{ cidrs: ['0.0.0.0/0'] }, { cidrs: ['10.0.0.0/7'] }, { cidrs: ['::/0'] }, { cidrs: ['2001:db8::/31'] }, { cidrs: ['10.0.0.1'] }, { cidrs: ['10.0.0.0/33'] }, { namespaces: ['Bad_NS'] }, { dns: 'yes' }, { ports: [53] }]) {
      expect(egressAllowanceInputSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(egressAllowanceInputSchema.safeParse({ cidrs: Array.from({ length: 17 }, (_, i) => `10.${i}.0.0/16`) }).success).toBe(false);
  });
});

describe('planPodIsolation', () => {
  it('plans the labels, the incident annotation and the policy for a fresh pod', () => {
    const plan = planPodIsolation(state());
    expect(plan.labelsToAdd).toEqual(ISOLATED);
    expect(plan.annotationsToAdd).toEqual({ [ANNOTATION_INCIDENT]: 'inc-1' });
    expect(plan.policyToCreate).toEqual(buildIsolationPolicy({ namespace: NS, pod: POD, incidentId: 'inc-1', actor: 'discord:42' }));
    expect(plan).toMatchObject({ policyName: `sentinel-isolate-${ID}`, node: NODE, cordon: 'not-requested', nodePatch: undefined, cordoned: false, complete: false });
  });

  it('has nothing to do for a fully isolated pod', () => {
    const plan = planPodIsolation(state({ pod: pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'inc-0' } }), policy: sentinelPolicy() }));
    expect(plan.complete).toBe(true);
    expect(plan.labelsToAdd).toEqual({});
    expect(plan.annotationsToAdd).toEqual({});
    expect(plan.policyToCreate).toBeUndefined();
  });

  it('completes a partial isolation: labelled pod, missing policy', () => {
    const plan = planPodIsolation(state({ pod: pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'inc-0' } }) }));
    expect(plan.labelsToAdd).toEqual({});
    expect(plan.annotationsToAdd).toEqual({});
    expect(plan.policyToCreate?.metadata?.name).toBe(`sentinel-isolate-${ID}`);
    expect(plan.complete).toBe(false);
  });

  it('refuses when the policy name is taken by a foreign or modified policy', () => {
    const foreign: V1NetworkPolicy = { metadata: { name: `sentinel-isolate-${ID}`, namespace: NS }, spec: { podSelector: {} } };
    expect(() => planPodIsolation(state({ policy: foreign }))).toThrow(ConflictError);
    const modified = sentinelPolicy();
    modified.spec!.ingress = [{}];
    expect(() => planPodIsolation(state({ policy: modified }))).toThrow(/modified/);
  });

  it('refuses a host-network pod, which a NetworkPolicy cannot isolate', () => {
    expect(() => planPodIsolation(state({ pod: pod({ hostNetwork: true }) }))).toThrow(ValidationError);
  });

  describe('cordon', () => {
    const key = nodeCordonAnnotation(ID);

    it('cordons a schedulable node and records this isolation on it and on the policy', () => {
      const plan = planPodIsolation(state({ cordonRequested: true, node: node() }));
      expect(plan.cordon).toBe('cordon');
      expect(plan.nodePatch).toEqual({ name: NODE, body: { metadata: { annotations: { [key]: `${NS}/${POD}` } }, spec: { unschedulable: true } } });
      expect(plan.policyToCreate?.metadata?.annotations?.[ANNOTATION_CORDONED_NODE]).toBe(NODE);
      expect(plan.cordoned).toBe(true);
    });

    it('leaves a node cordoned by someone else alone and records nothing', () => {
      const plan = planPodIsolation(state({ cordonRequested: true, node: node({ unschedulable: true }) }));
      expect(plan.cordon).toBe('cordoned-by-others');
      expect(plan.nodePatch).toBeUndefined();
      expect(plan.policyToCreate?.metadata?.annotations).not.toHaveProperty(ANNOTATION_CORDONED_NODE);
      expect(plan.cordoned).toBe(false);
      expect(plan.notes.join(' ')).toMatch(/already cordoned by someone else/);
    });

    it('joins a cordon another sentinel isolation holds', () => {
      const plan = planPodIsolation(state({ cordonRequested: true, node: node({ unschedulable: true, annotations: { 'sentinel.io/cordon-0123456789': 'web/other' } }) }));
      expect(plan.cordon).toBe('join');
      expect(plan.nodePatch).toEqual({ name: NODE, body: { metadata: { annotations: { [key]: `${NS}/${POD}` } } } });
      expect(plan.cordoned).toBe(true);
    });

    it('has nothing to do when this isolation already holds the cordon', () => {
      const plan = planPodIsolation(
        state({ pod: pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'i' } }), policy: sentinelPolicy(NODE), cordonRequested: true, node: node({ unschedulable: true, annotations: { [key]: 'x' } }) }),
      );
      expect(plan.cordon).toBe('held');
      expect(plan.complete).toBe(true);
    });

    it('cordons again when someone uncordoned a node this isolation holds', () => {
      const plan = planPodIsolation(state({ policy: sentinelPolicy(NODE), cordonRequested: true, node: node({ annotations: { [key]: 'x' } }) }));
      expect(plan.cordon).toBe('recordon');
      expect(plan.nodePatch?.body).toEqual({ spec: { unschedulable: true } });
    });

    it('records the cordon on an existing policy that lacks it, before the node is patched', () => {
      const plan = planPodIsolation(state({ pod: pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'i' } }), policy: sentinelPolicy(), cordonRequested: true, node: node() }));
      expect(plan.policyAnnotationsToAdd).toEqual({ [ANNOTATION_CORDONED_NODE]: NODE });
      expect(plan.complete).toBe(false);
    });

    it('cannot cordon an unscheduled pod or a missing node', () => {
      expect(planPodIsolation(state({ pod: pod({ nodeName: null }), cordonRequested: true })).cordon).toBe('no-node');
      expect(planPodIsolation(state({ cordonRequested: true, node: undefined })).cordon).toBe('node-not-found');
    });
  });
});

describe('planPodRelease', () => {
  const key = nodeCordonAnnotation(ID);
  const isolatedPod = pod({ labels: ISOLATED, annotations: { [ANNOTATION_INCIDENT]: 'inc-1', keep: 'me' } });

  it('removes exactly the sentinel labels and annotation, deletes sentinel policy and uncordons the node it holds', () => {
    const plan = planPodRelease({ namespace: NS, pod: POD, podObject: isolatedPod, policy: sentinelPolicy(NODE), node: node({ unschedulable: true, annotations: { [key]: 'x' } }) });
    expect(plan.labelsToRemove).toEqual([LABEL_ISOLATED, LABEL_ISOLATION_ID]);
    expect(plan.annotationsToRemove).toEqual([ANNOTATION_INCIDENT]);
    expect(plan.deletePolicy).toBe(true);
    expect(plan.uncordon).toBe(true);
    expect(plan.nodePatch).toEqual({ name: NODE, body: { metadata: { annotations: { [key]: null } }, spec: { unschedulable: null } } });
    expect(plan.notIsolated).toBe(false);
  });

  it('keeps the node cordoned while another sentinel isolation holds it', () => {
    const plan = planPodRelease({
      namespace: NS,
      pod: POD,
      podObject: isolatedPod,
      policy: sentinelPolicy(NODE),
      node: node({ unschedulable: true, annotations: { [key]: 'x', 'sentinel.io/cordon-0123456789': 'y' } }),
    });
    expect(plan.uncordon).toBe(false);
    expect(plan.nodePatch?.body).toEqual({ metadata: { annotations: { [key]: null } } });
  });

  it('never touches a node without this isolation key, nor a foreign policy', () => {
    const foreign: V1NetworkPolicy = { metadata: { name: `sentinel-isolate-${ID}`, annotations: { [ANNOTATION_CORDONED_NODE]: NODE } } };
    const plan = planPodRelease({ namespace: NS, pod: POD, podObject: isolatedPod, policy: foreign, node: node({ unschedulable: true }) });
    expect(plan.deletePolicy).toBe(false);
    expect(plan.foreignPolicy).toBe(true);
    expect(plan.node).toBeNull();
    expect(plan.nodePatch).toBeUndefined();
    const noKey = planPodRelease({ namespace: NS, pod: POD, podObject: isolatedPod, policy: sentinelPolicy(NODE), node: node({ unschedulable: true }) });
    expect(noKey.nodePatch).toBeUndefined();
    expect(noKey.uncordon).toBe(false);
  });

  it('still deletes the policy when the pod is gone', () => {
    const plan = planPodRelease({ namespace: NS, pod: POD, podObject: undefined, policy: sentinelPolicy(), node: undefined });
    expect(plan).toMatchObject({ podFound: false, deletePolicy: true, labelsToRemove: [], notIsolated: false });
    expect(plan.notes.join(' ')).toMatch(/no longer exists/);
  });

  it('finds nothing to release on a pod that was never isolated', () => {
    expect(planPodRelease({ namespace: NS, pod: POD, podObject: pod(), policy: undefined, node: undefined }).notIsolated).toBe(true);
    expect(planPodRelease({ namespace: NS, pod: POD, podObject: undefined, policy: undefined, node: undefined }).notIsolated).toBe(true);
  });
});

describe('toKubeError', () => {
  it('maps 404 to NotFoundError and anything else to KubernetesError with the Status message and cause', () => {
    const notFound = Object.assign(new Error('HTTP-Code: 404'), { code: 404, body: JSON.stringify({ kind: 'Status', message: 'pods "x" not found' }) });
    const mapped404 = toKubeError(notFound, 'reading pod web/x');
    expect(mapped404).toBeInstanceOf(NotFoundError);
    expect(mapped404.cause).toBe(notFound);

    const forbidden = Object.assign(new Error('HTTP-Code: 403'), { code: 403, body: JSON.stringify({ kind: 'Status', message: 'nodes "n" is forbidden' }) });
    const mapped403 = toKubeError(forbidden, 'cordoning node n');
    expect(mapped403).toBeInstanceOf(KubernetesError);
    expect(mapped403.message).toBe('cordoning node n failed (HTTP 403): nodes "n" is forbidden');
    expect(mapped403.cause).toBe(forbidden);
  });
});
