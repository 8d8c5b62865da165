import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { isolatePod, isolatePodAction } from '../../../../src/pipeline/actions/containment/isolatePod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { buildEgressRules, buildIsolationPolicy, isolationId } from '../../../../src/pipeline/planning/planPodIsolation.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const INCIDENT = 'inc-2026-0042';
const ACTOR = 'discord:123456789012345678';

function deps(settings: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws: {},
    kube: createKubeClients(fake.kubeConfig()),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

let counter = 0;
/** A fresh pod on a fresh node, so tests never share state. */
function target(opts: { namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; nodeUnschedulable?: boolean } = {}) {
  counter += 1;
  const namespace = opts.namespace ?? `web-${counter}`;
  const pod = `wordpress-${counter}`;
  const node = `ip-10-0-9-${counter}.ap-northeast-2.compute.internal`;
  fake.addNode({ name: node, ...(opts.nodeUnschedulable ? { unschedulable: true } : {}) });
  fake.addPod({ namespace, name: pod, nodeName: node, labels: { app: 'wordpress', ...opts.labels }, ...(opts.annotations ? { annotations: opts.annotations } : {}) });
  const id = isolationId(namespace, pod);
  return { namespace, pod, node, id, policyName: `sentinel-isolate-${id}` };
}

const writes = () => fake.calls.filter((c) => c.method !== 'GET');
/** What isolate-pod keeps open by default (SENTINEL_ISOLATE_POD_ALLOW_DNS=true): cluster DNS only. */
const DNS_ONLY = { dns: true, cidrs: [], namespaces: [] };
const DNS_RULE = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};
const options = { actor: ACTOR, incidentId: INCIDENT };

describe('isolate-pod', () => {
  it('labels the pod and creates a NetworkPolicy selecting only that pod: no ingress, egress only to cluster DNS', async () => {
    const t = target();
    const bystander = fake.addPod({ namespace: t.namespace, name: 'bystander', labels: { app: 'wordpress' } });
    fake.clearRecords();

    const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(
      `isolated pod ${t.namespace}/${t.pod}: created isolation NetworkPolicy ${t.policyName} (no ingress, egress open only to cluster DNS), labelled the pod (sentinel.io/isolated, sentinel.io/isolation-id)`,
    );
    expect(result.details).toEqual({
      namespace: t.namespace,
      pod: t.pod,
      isolationId: t.id,
      labelsAdded: { 'sentinel.io/isolated': 'true', 'sentinel.io/isolation-id': t.id },
      annotationsAdded: { 'sentinel.io/incident': INCIDENT },
      policyName: t.policyName,
      policyCreated: true,
      allowedEgress: DNS_ONLY,
      egressChanged: false,
      node: t.node,
      cordonRequested: false,
      cordon: 'not-requested',
      cordoned: false,
      notes: [],
    });

    const pod = fake.pod(t.namespace, t.pod).object();
    expect(pod.metadata.labels).toEqual({ app: 'wordpress', 'sentinel.io/isolated': 'true', 'sentinel.io/isolation-id': t.id });
    expect(pod.metadata.annotations).toEqual({ 'sentinel.io/incident': INCIDENT });
    expect(bystander.object().metadata.labels).toEqual({ app: 'wordpress' });

    const policy = fake.networkPolicy(t.namespace, t.policyName);
    expect(policy?.spec).toEqual({ podSelector: { matchLabels: { 'sentinel.io/isolation-id': t.id } }, policyTypes: ['Ingress', 'Egress'], egress: [DNS_RULE] });
    expect(policy?.metadata.labels).toEqual({ 'sentinel.io/created-by': 'sentinel', 'sentinel.io/isolation-id': t.id });
    expect(policy?.metadata.annotations).toEqual({
      'sentinel.io/incident': INCIDENT,
      'sentinel.io/actor': ACTOR,
      'sentinel.io/pod': t.pod,
      'sentinel.io/allowed-egress': JSON.stringify(DNS_ONLY),
    });

    // Not asked to cordon: the node is never read or written.
    expect(fake.calls.some((c) => c.path.startsWith('/api/v1/nodes'))).toBe(false);
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBeUndefined();
    expect(writes().map((c) => `${c.method} ${c.path} ${c.contentType ?? ''}`)).toEqual([
      `POST /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies application/json`,
      `PATCH /api/v1/namespaces/${t.namespace}/pods/${t.pod} application/merge-patch+json`,
    ]);
  });

  it("cordons the pod's node when asked and records that sentinel did it", async () => {
    const t = target();
    fake.clearRecords();

    const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, cordonNode: true }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toMatch(new RegExp(`cordoned node ${t.node.replace(/\./g, '\\.')}$`));
    expect(result.details).toMatchObject({ node: t.node, cordonRequested: true, cordon: 'cordon', cordoned: true });
    const node = fake.node(t.node)!;
    expect(node.spec?.['unschedulable']).toBe(true);
    expect(node.spec?.['taints']).toEqual([expect.objectContaining({ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })]);
    expect(node.metadata.annotations?.[`sentinel.io/cordon-${t.id}`]).toBe(`${t.namespace}/${t.pod}`);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.metadata.annotations?.['sentinel.io/cordoned-node']).toBe(t.node);
    expect(writes().map((c) => `${c.method} ${c.path}`)).toEqual([
      `POST /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies`,
      `PATCH /api/v1/namespaces/${t.namespace}/pods/${t.pod}`,
      `PATCH /api/v1/nodes/${t.node}`,
    ]);
  });

  it('takes the cordon default from SENTINEL_CORDON_ON_POD_ISOLATE, and an explicit false wins', async () => {
    const a = target();
    const b = target();
    const withDefault = await invokeAction(isolatePodAction, { namespace: a.namespace, pod: a.pod }, options, deps({ cordonOnPodIsolate: true }));
    expect(withDefault.details).toMatchObject({ cordonRequested: true, cordoned: true });
    expect(fake.node(a.node)?.spec?.['unschedulable']).toBe(true);

    const optedOut = await invokeAction(isolatePodAction, { namespace: b.namespace, pod: b.pod, cordonNode: false }, options, deps({ cordonOnPodIsolate: true }));
    expect(optedOut.details).toMatchObject({ cordonRequested: false, cordoned: false });
    expect(fake.node(b.node)?.spec?.['unschedulable']).toBeUndefined();
  });

  it('leaves a node someone else cordoned alone and records no cordon', async () => {
    const t = target({ nodeUnschedulable: true });
    const before = fake.node(t.node);
    fake.clearRecords();

    const result = await isolatePod({ input: { namespace: t.namespace, pod: t.pod, cordonNode: true }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ cordon: 'cordoned-by-others', cordoned: false });
    expect(result.details.notes).toEqual([`node ${t.node} was already cordoned by someone else: left as it is, release will not uncordon it`]);
    expect(writes().some((c) => c.path.startsWith('/api/v1/nodes'))).toBe(false);
    expect(fake.node(t.node)).toEqual(before);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.metadata.annotations).not.toHaveProperty('sentinel.io/cordoned-node');
  });

  it('is skipped with no writes when run again after success', async () => {
    const t = target();
    const first = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, cordonNode: true }, options, deps());
    expect(first.status).toBe('succeeded');
    const policyBefore = fake.networkPolicy(t.namespace, t.policyName);
    fake.clearRecords();

    const again = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, cordonNode: true }, { ...options, incidentId: 'inc-other' }, deps());

    expect(again.status).toBe('skipped');
    expect(again.summary).toBe(`pod ${t.namespace}/${t.pod} is already isolated (NetworkPolicy ${t.policyName}, egress open only to cluster DNS, node ${t.node} cordoned)`);
    expect(again.details).toMatchObject({ labelsAdded: {}, annotationsAdded: {}, policyCreated: false, cordon: 'held', cordoned: true });
    expect(writes()).toEqual([]);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(policyBefore);
    // The first incident stays on the pod.
    expect(fake.pod(t.namespace, t.pod).object().metadata.annotations?.['sentinel.io/incident']).toBe(INCIDENT);
  });

  it('completes a partial isolation: labels present, policy missing', async () => {
    const t = target();
    await isolatePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());
    // Someone deleted the policy: the pod is labelled but no longer isolated.
    await createKubeClients(fake.kubeConfig()).networking.deleteNamespacedNetworkPolicy({ name: t.policyName, namespace: t.namespace });
    fake.clearRecords();

    const result = await isolatePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`completed the isolation of pod ${t.namespace}/${t.pod}: created isolation NetworkPolicy ${t.policyName} (no ingress, egress open only to cluster DNS)`);
    expect(result.details).toMatchObject({ labelsAdded: {}, annotationsAdded: {}, policyCreated: true });
    expect(writes().map((c) => `${c.method} ${c.path}`)).toEqual([`POST /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies`]);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.spec).toEqual({
      podSelector: { matchLabels: { 'sentinel.io/isolation-id': t.id } },
      policyTypes: ['Ingress', 'Egress'],
      egress: [DNS_RULE],
    });
  });

  it('completes a partial isolation: policy present, labels missing', async () => {
    const t = target();
    await createKubeClients(fake.kubeConfig()).networking.createNamespacedNetworkPolicy({
      namespace: t.namespace,
      body: buildIsolationPolicy({ namespace: t.namespace, pod: t.pod, incidentId: INCIDENT, actor: ACTOR, allow: DNS_ONLY }),
    });
    fake.clearRecords();

    const result = await isolatePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ policyCreated: false, labelsAdded: { 'sentinel.io/isolated': 'true', 'sentinel.io/isolation-id': t.id } });
    expect(writes().map((c) => `${c.method} ${c.path}`)).toEqual([`PATCH /api/v1/namespaces/${t.namespace}/pods/${t.pod}`]);
  });

  it('adds a cordon to an existing isolation, recording it on the policy before patching the node', async () => {
    const t = target();
    await isolatePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());
    fake.clearRecords();

    const result = await isolatePod({ input: { namespace: t.namespace, pod: t.pod, cordonNode: true }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ cordon: 'cordon', cordoned: true });
    expect(writes().map((c) => `${c.method} ${c.path}`)).toEqual([
      `PATCH /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName}`,
      `PATCH /api/v1/nodes/${t.node}`,
    ]);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.metadata.annotations?.['sentinel.io/cordoned-node']).toBe(t.node);
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBe(true);
  });

  it('accepts its own policy when creation answers 409 (created meanwhile)', async () => {
    const t = target();
    await createKubeClients(fake.kubeConfig()).networking.createNamespacedNetworkPolicy({
      namespace: t.namespace,
      body: buildIsolationPolicy({ namespace: t.namespace, pod: t.pod, incidentId: INCIDENT, actor: ACTOR }),
    });
    // The preflight read misses it, so the create runs into 409 AlreadyExists.
    fake.injectFailure({ method: 'GET', path: `/apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName}`, code: 404, reason: 'NotFound' });
    fake.clearRecords();

    const result = await isolatePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.policyCreated).toBe(false);
    expect(fake.calls.filter((c) => c.method === 'POST').map((c) => c.statusCode)).toEqual([409]);
    // The policy made meanwhile kept nothing open; this run asked for DNS, so it now keeps DNS open.
    expect(result.details.egressChanged).toBe(true);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.spec?.['egress']).toEqual([DNS_RULE]);
    expect(fake.pod(t.namespace, t.pod).object().metadata.labels?.['sentinel.io/isolation-id']).toBe(t.id);
  });

  it('refuses when a foreign NetworkPolicy has the isolation name, changing nothing', async () => {
    const t = target();
    const kube = createKubeClients(fake.kubeConfig());
    await kube.networking.createNamespacedNetworkPolicy({
      namespace: t.namespace,
      body: { metadata: { name: t.policyName }, spec: { podSelector: { matchLabels: { app: 'wordpress' } }, policyTypes: ['Ingress'], ingress: [{}] } },
    });
    const foreign = fake.networkPolicy(t.namespace, t.policyName);
    fake.clearRecords();

    const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

    expect(result).toMatchObject({ status: 'failed', details: { error: 'PolicyConflict', final: true } });
    expect(result.summary).toMatch(/not created by sentinel/);
    expect(writes()).toEqual([]);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(foreign);
  });

  it('dry run returns the plan and writes nothing', async () => {
    const t = target();
    const podBefore = fake.pod(t.namespace, t.pod).object();
    fake.clearRecords();

    const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, cordonNode: true }, { ...options, dryRun: true }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(
      `dry run: would isolate pod ${t.namespace}/${t.pod}: create isolation NetworkPolicy ${t.policyName} (no ingress, egress open only to cluster DNS), label the pod (sentinel.io/isolated, sentinel.io/isolation-id), cordon node ${t.node}`,
    );
    expect(result.details).toMatchObject({
      dryRun: true,
      labelsAdded: { 'sentinel.io/isolated': 'true', 'sentinel.io/isolation-id': t.id },
      policyName: t.policyName,
      node: t.node,
      cordon: 'cordon',
      cordoned: true,
    });
    expect(fake.calls.length).toBeGreaterThan(0);
    expect(writes()).toEqual([]);
    expect(fake.pod(t.namespace, t.pod).object()).toEqual(podBefore);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeUndefined();
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBeUndefined();
  });

  describe('egress kept open', () => {
    it('keeps the CIDRs and namespaces asked for open, plus DNS, and denies the rest', async () => {
      const t = target();
      const allow = { cidrs: ['10.50.0.0/16', '192.0.2.10/32'], namespaces: ['logging'] };
      const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, allow }, options, deps());

      expect(result.status).toBe('succeeded');
      expect(result.summary).toContain('egress open only to cluster DNS, 10.50.0.0/16, 192.0.2.10/32, namespace logging');
      const policy = fake.networkPolicy(t.namespace, t.policyName)!;
      expect(policy.spec).toEqual({
        podSelector: { matchLabels: { 'sentinel.io/isolation-id': t.id } },
        policyTypes: ['Ingress', 'Egress'],
        egress: [
          DNS_RULE,
          { to: [{ ipBlock: { cidr: '10.50.0.0/16' } }, { ipBlock: { cidr: '192.0.2.10/32' } }] },
          { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'logging' } } }] },
        ],
      });
      expect(JSON.parse(policy.metadata.annotations!['sentinel.io/allowed-egress']!)).toEqual({ dns: true, cidrs: ['10.50.0.0/16', '192.0.2.10/32'], namespaces: ['logging'] });
    });

    it('denies all egress with dns: false, or with SENTINEL_ISOLATE_POD_ALLOW_DNS=false', async () => {
      const a = target();
      await invokeAction(isolatePodAction, { namespace: a.namespace, pod: a.pod, allow: { dns: false } }, options, deps());
      expect(fake.networkPolicy(a.namespace, a.policyName)?.spec).toEqual({ podSelector: { matchLabels: { 'sentinel.io/isolation-id': a.id } }, policyTypes: ['Ingress', 'Egress'] });
      const b = target();
      const result = await invokeAction(isolatePodAction, { namespace: b.namespace, pod: b.pod }, options, deps({ isolatePodAllowDns: false }));
      expect(result.summary).toContain('egress open only to nothing');
      expect(fake.networkPolicy(b.namespace, b.policyName)?.spec?.['egress']).toBeUndefined();
    });

    it('changes what an existing isolation keeps open when asked for other allowances, and is skipped when asked the same', async () => {
      const t = target();
      await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
      fake.clearRecords();

      const wider = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, allow: { cidrs: ['10.60.0.0/24'] } }, options, deps());

      expect(wider.status).toBe('succeeded');
      expect(wider.summary).toBe(`completed the isolation of pod ${t.namespace}/${t.pod}: changed the isolation's egress open only to cluster DNS, 10.60.0.0/24`);
      expect(wider.details).toMatchObject({ egressChanged: true, policyCreated: false, allowedEgress: { dns: true, cidrs: ['10.60.0.0/24'], namespaces: [] } });
      expect(writes().map((c) => `${c.method} ${c.path} ${c.contentType}`)).toEqual([
        `PATCH /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName} application/merge-patch+json`,
      ]);
      expect(fake.networkPolicy(t.namespace, t.policyName)?.spec?.['egress']).toEqual(buildEgressRules({ dns: true, cidrs: ['10.60.0.0/24'], namespaces: [] }));

      fake.clearRecords();
      const same = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, allow: { cidrs: ['10.60.0.0/24'] } }, options, deps());
      expect(same.status).toBe('skipped');
      expect(writes()).toEqual([]);

      const closed = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, allow: { dns: false } }, options, deps());
      expect(closed.details).toMatchObject({ egressChanged: true });
      expect(fake.networkPolicy(t.namespace, t.policyName)?.spec?.['egress']).toBeUndefined();
    });

    it('refuses a policy whose egress someone widened, changing nothing', async () => {
      const t = target();
      await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
      await createKubeClients(fake.kubeConfig()).networking.patchNamespacedNetworkPolicy(
        { name: t.policyName, namespace: t.namespace, body: [{ op: 'add', path: '/spec/egress/-', value: { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] } }] },
      );
      const widened = fake.networkPolicy(t.namespace, t.policyName);
      fake.clearRecords();

      const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

      expect(result).toMatchObject({ status: 'failed', details: { error: 'PolicyConflict', final: true } });
      expect(result.summary).toMatch(/has been modified/);
      expect(writes()).toEqual([]);
      expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(widened);
    });

    it('dry run of a change of allowances writes nothing', async () => {
      const t = target();
      await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
      const before = fake.networkPolicy(t.namespace, t.policyName);
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod, allow: { namespaces: ['logging'] } }, { ...options, dryRun: true }, deps());
      expect(result.summary).toBe(`dry run: would isolate pod ${t.namespace}/${t.pod}: change the isolation's egress open only to cluster DNS, namespace logging`);
      expect(writes()).toEqual([]);
      expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(before);
    });

    it.each([
      [{ cidrs: ['0.0.0.0/0'] }, /allow\.cidrs\.0: no broader than \/8/],
      [{ cidrs: ['::/0'] }, /allow\.cidrs\.0/],
      [{ cidrs: ['10.0.0.0/8', 'example.com'] }, /allow\.cidrs\.1: a CIDR/],
      [{ namespaces: ['Logging'] }, /allow\.namespaces\.0/],
      [{ dns: 'no' }, /allow\.dns/],
      [{ hosts: ['x'] }, /allow/],
    ])('refuses the allowance %j before any API call', async (allow, reason) => {
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, { namespace: 'web', pod: 'x', allow }, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  describe('refusals', () => {
    it.each(['kube-system', 'kube-public', 'kube-node-lease'])('refuses the system namespace %s before any API call', async (namespace) => {
      const t = target({ namespace });
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, { namespace, pod: t.pod }, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace', final: true } });
      expect(result.summary).toBe(`refusing to isolate a pod in the system namespace ${namespace}`);
      expect(fake.calls).toEqual([]);
    });

    it('refuses a configured protected namespace before any API call', async () => {
      const t = target({ namespace: 'payments' });
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, { namespace: 'payments', pod: t.pod }, options, deps({ protectedNamespaces: ['vault', 'payments'] }));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace', final: true } });
      expect(fake.calls).toEqual([]);
      expect(fake.pod('payments', t.pod).object().metadata.labels).toEqual({ app: 'wordpress' });
    });

    it('fails with NotFound for a missing pod, writing nothing', async () => {
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, { namespace: 'web', pod: 'no-such-pod' }, options, deps());
      expect(result).toEqual({ status: 'failed', summary: 'pod web/no-such-pod not found', details: { error: 'NotFound', final: true } });
      expect(writes()).toEqual([]);
    });

    it.each([
      [{ namespace: 'Web_1', pod: 'x' }, /namespace/],
      [{ namespace: 'web', pod: '../etc' }, /pod/],
      [{ namespace: 'web', pod: 'x', cordonNode: 'yes' }, /cordonNode/],
      [{ namespace: 'web', pod: 'x', cordon: true }, /cordon/],
      [{ pod: 'x' }, /namespace/],
    ])('refuses bad input %j as InvalidInput before any API call', async (input, reason) => {
      fake.clearRecords();
      const result = await invokeAction(isolatePodAction, input, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('maps an API failure to a retryable Kubernetes error', async () => {
    const t = target();
    fake.injectFailure({ method: 'PATCH', path: `/api/v1/namespaces/${t.namespace}/pods/${t.pod}`, code: 500, reason: 'InternalError', message: 'etcd unavailable' });
    const result = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'Kubernetes', final: false } });
    expect(result.summary).toBe(`labelling pod ${t.namespace}/${t.pod} failed (HTTP 500): etcd unavailable`);
    // A rerun completes it.
    const again = await invokeAction(isolatePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
    expect(again.status).toBe('succeeded');
    expect(again.summary).toMatch(/^completed the isolation/);
  });

  it('declares exactly the RBAC it uses and no IAM', () => {
    expect(isolatePodAction.id).toBe('isolate-pod');
    expect(isolatePodAction.permissions).toEqual({
      iam: [],
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'patch'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      ],
    });
  });
});
