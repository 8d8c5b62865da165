import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { drainNodeAction } from '../../../../src/pipeline/actions/containment/drainNode.js';
import { releasePodAction } from '../../../../src/pipeline/actions/containment/releasePod.js';
import { isolatePodAction } from '../../../../src/pipeline/actions/containment/isolatePod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const options = { actor: 'discord:123456789012345678', incidentId: 'inc-2026-0200' };

function deps(settings: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws: {},
    kube: createKubeClients(fake.kubeConfig()),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

const owner = (kind: string, name: string) => [{ apiVersion: 'apps/v1', kind, name, uid: `uid-${kind}-${name}`, controller: true, blockOwnerDeletion: true }];
let n = 0;

/** A node with a typical mix of pods: two Deployment replicas, a DaemonSet pod, a mirror pod, a kube-system pod, a bare pod and one with emptyDir. */
function node(opts: { labels?: Record<string, string>; annotations?: Record<string, string>; unschedulable?: boolean } = {}) {
  n += 1;
  const name = `ip-10-0-7-${n}.ap-northeast-2.compute.internal`;
  const ns = `shop-${n}`;
  fake.addNode({ name, ...opts });
  const pods = {
    webA: fake.addPod({ namespace: ns, name: 'web-a', nodeName: name, labels: { app: 'web' }, ownerReferences: owner('ReplicaSet', 'web-7d9f8') }),
    webB: fake.addPod({ namespace: ns, name: 'web-b', nodeName: name, labels: { app: 'web' }, ownerReferences: owner('ReplicaSet', 'web-7d9f8') }),
    agent: fake.addPod({ namespace: ns, name: 'fluent-bit-x', nodeName: name, ownerReferences: owner('DaemonSet', 'fluent-bit') }),
    mirror: fake.addPod({ namespace: ns, name: `etcd-${n}`, nodeName: name, annotations: { 'kubernetes.io/config.mirror': 'abc' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: 'n', controller: true }] }),
    dns: fake.addPod({ namespace: 'kube-system', name: `coredns-${n}`, nodeName: name, ownerReferences: owner('ReplicaSet', 'coredns-5d78c') }),
    bare: fake.addPod({ namespace: ns, name: 'debug', nodeName: name }),
    cache: fake.addPod({ namespace: ns, name: 'cache-0', nodeName: name, ownerReferences: owner('StatefulSet', 'cache'), volumes: [{ name: 'scratch', emptyDir: {} }] }),
  };
  return { name, ns, pods };
}

const evictions = () => fake.calls.filter((c) => c.path.endsWith('/eviction'));
const terminating = (pod: { object(): { metadata: { deletionTimestamp?: string } } }) => pod.object().metadata.deletionTimestamp !== undefined;

describe('drain-node', () => {
  it('cordons the node with its record, evicts the workload pods and reports what it left and why', async () => {
    const t = node();
    fake.clearRecords();

    const result = await invokeAction(drainNodeAction, { node: t.name }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(
      `drained node ${t.name}: cordoned node ${t.name}, evicted 2 pods; left 1 DaemonSet pod, 1 mirror pod; ` +
        `kube-system/coredns-${n} (namespace kube-system is protected: sentinel does not act on its pods); ` +
        `${t.ns}/cache-0 (emptyDir volume scratch: the data would be lost (deleteEmptyDirData: true evicts it)); ` +
        `${t.ns}/debug (no controller: nothing would recreate it (force: true evicts it))`,
    );
    expect(result.details).toMatchObject({
      node: t.name,
      cordon: 'cordon',
      cordoned: true,
      evicted: [
        { namespace: t.ns, pod: 'web-a', attempts: 1 },
        { namespace: t.ns, pod: 'web-b', attempts: 1 },
      ],
      terminating: [],
    });
    const left = (result.details as { left: { pod: string; kind: string }[] }).left.map((l) => [l.pod, l.kind]);
    expect(left).toEqual(
      expect.arrayContaining([
        ['fluent-bit-x', 'daemonset'],
        [`etcd-${n}`, 'mirror'],
        [`coredns-${n}`, 'protected-namespace'],
        ['debug', 'no-controller'],
        ['cache-0', 'emptydir'],
      ]),
    );
    const nodeAfter = fake.node(t.name)!;
    expect(nodeAfter.spec?.['unschedulable']).toBe(true);
    expect(nodeAfter.metadata.annotations?.['sentinel.io/cordon-drain']).toBe(options.incidentId);
    expect(terminating(t.pods.webA) && terminating(t.pods.webB)).toBe(true);
    for (const p of [t.pods.agent, t.pods.mirror, t.pods.dns, t.pods.bare, t.pods.cache]) expect(terminating(p)).toBe(false);
    // The cordon comes first, then one Eviction per pod, conditioned on the pod's uid.
    const writes = fake.calls.filter((c) => c.method !== 'GET');
    expect(writes[0]).toMatchObject({ method: 'PATCH', path: `/api/v1/nodes/${t.name}`, contentType: 'application/merge-patch+json' });
    expect(evictions().map((c) => c.body)).toEqual([
      { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-a', namespace: t.ns }, deleteOptions: { preconditions: { uid: t.pods.webA.object().metadata.uid } } },
      { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-b', namespace: t.ns }, deleteOptions: { preconditions: { uid: t.pods.webB.object().metadata.uid } } },
    ]);
    expect(fake.calls.find((c) => c.path === '/api/v1/pods')?.query).toEqual({ fieldSelector: `spec.nodeName=${t.name}` });
  });

  it('evicts bare pods with force and emptyDir pods with deleteEmptyDirData, with the grace period asked for', async () => {
    const t = node();
    const result = await invokeAction(drainNodeAction, { node: t.name, force: true, deleteEmptyDirData: true, gracePeriodSeconds: 10 }, options, deps());
    expect((result.details as { evicted: { pod: string }[] }).evicted.map((e) => e.pod)).toEqual(['cache-0', 'debug', 'web-a', 'web-b']);
    expect(t.pods.bare.object().metadata.deletionGracePeriodSeconds).toBe(10);
  });

  it('is skipped with no write when run again: the evicted pods are terminating, the rest stays', async () => {
    const t = node();
    expect((await invokeAction(drainNodeAction, { node: t.name }, options, deps())).status).toBe('succeeded');
    fake.clearRecords();

    const again = await invokeAction(drainNodeAction, { node: t.name }, options, deps());

    expect(again.status).toBe('skipped');
    expect(again.summary).toMatch(new RegExp(`^node ${t.name.replace(/\./g, '\\.')} is already drained: node \\S+ stays cordoned, nothing left to evict; 2 pods still terminating; left 1 DaemonSet pod, 1 mirror pod; `));
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });

  it('retries an eviction a PodDisruptionBudget refuses, then reports the pod as left with the budget\'s words', async () => {
    const t = node();
    fake.addPodDisruptionBudget({ namespace: t.ns, name: 'web', matchLabels: { app: 'web' }, minAvailable: 2 });
    fake.clearRecords();

    const result = await invokeAction(drainNodeAction, { node: t.name, evictionRetries: 2, retryDelaySeconds: 0 }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ evicted: [] });
    const left = (result.details as { left: { pod: string; kind: string; reason: string }[] }).left.filter((l) => l.kind === 'disruption-budget');
    expect(left).toEqual([
      { namespace: t.ns, pod: 'web-a', kind: 'disruption-budget', reason: 'disruption budget: The disruption budget web needs 2 healthy pods and has 2 currently (still refused after 3 attempts)' },
      { namespace: t.ns, pod: 'web-b', kind: 'disruption-budget', reason: 'disruption budget: The disruption budget web needs 2 healthy pods and has 2 currently (still refused after 3 attempts)' },
    ]);
    expect(evictions().map((c) => c.statusCode)).toEqual([429, 429, 429, 429, 429, 429]);
    expect(result.summary).toContain(`${t.ns}/web-a (disruption budget: The disruption budget web needs 2 healthy pods and has 2 currently (still refused after 3 attempts))`);
    expect(terminating(t.pods.webA)).toBe(false);
    // The node stays cordoned: a rerun, once the budget allows it, evicts what is left.
    fake.clearRecords();
    fake.addPod({ namespace: t.ns, name: 'web-c', nodeName: 'ip-10-0-1-10.ap-northeast-2.compute.internal', labels: { app: 'web' } });
    const rerun = await invokeAction(drainNodeAction, { node: t.name, evictionRetries: 0 }, options, deps());
    expect((rerun.details as { evicted: { pod: string }[] }).evicted.map((e) => e.pod)).toEqual(['web-a']);
    expect(fake.calls.filter((c) => c.method === 'PATCH')).toEqual([]);
  });

  it('gets an eviction through once the budget allows it within the retries', async () => {
    const t = node();
    // The budget refuses twice (as while a replacement becomes ready), then allows it.
    fake.injectFailure({ method: 'POST', path: `/api/v1/namespaces/${t.ns}/pods/web-a/eviction`, code: 429, reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget.", times: 2 });
    const result = await invokeAction(drainNodeAction, { node: t.name, retryDelaySeconds: 0 }, options, deps());
    expect((result.details as { evicted: { pod: string; attempts: number }[] }).evicted).toEqual([
      { namespace: t.ns, pod: 'web-a', attempts: 3 },
      { namespace: t.ns, pod: 'web-b', attempts: 1 },
    ]);
  });

  it('leaves a node someone else cordoned as it is, records nothing, and still evicts', async () => {
    const t = node({ unschedulable: true });
    fake.clearRecords();
    const result = await invokeAction(drainNodeAction, { node: t.name }, options, deps());
    expect(result.summary).toMatch(new RegExp(`^drained node \\S+: node \\S+ was already cordoned by someone else \\(left as it is\\), evicted 2 pods`));
    expect(fake.node(t.name)?.metadata.annotations).not.toHaveProperty('sentinel.io/cordon-drain');
    expect(fake.calls.filter((c) => c.method === 'PATCH' && c.path.startsWith('/api/v1/nodes/'))).toEqual([]);
  });

  it('holds the cordon with sentinel isolations: a release-pod never uncordons a drained node, whichever came first', async () => {
    // Isolated (with a cordon) first, then drained: the drain joins the isolation's cordon.
    const a = node();
    fake.addPod({ namespace: `iso-${n}`, name: 'suspect', nodeName: a.name, ownerReferences: owner('ReplicaSet', 'suspect-1') });
    expect((await invokeAction(isolatePodAction, { namespace: `iso-${n}`, pod: 'suspect', cordonNode: true }, options, deps())).status).toBe('succeeded');
    const drained = await invokeAction(drainNodeAction, { node: a.name }, options, deps());
    expect(drained.details).toMatchObject({ cordon: 'join' });
    expect(drained.summary).toContain(`node ${a.name} was already cordoned for a sentinel isolation: this drain now holds it too`);
    expect(fake.node(a.name)?.metadata.annotations?.['sentinel.io/cordon-drain']).toBe(options.incidentId);
    expect((await invokeAction(releasePodAction, { namespace: `iso-${n}`, pod: 'suspect' }, options, deps())).status).toBe('succeeded');
    expect(fake.node(a.name)?.spec?.['unschedulable']).toBe(true);

    // Drained first, then a pod on it isolated with a cordon and released.
    const b = node();
    expect((await invokeAction(drainNodeAction, { node: b.name }, options, deps())).status).toBe('succeeded');
    fake.addPod({ namespace: `iso-${n}`, name: 'suspect', nodeName: b.name, ownerReferences: owner('ReplicaSet', 'suspect-2') });
    expect((await invokeAction(isolatePodAction, { namespace: `iso-${n}`, pod: 'suspect', cordonNode: true }, options, deps())).details).toMatchObject({ cordon: 'join' });
    expect((await invokeAction(releasePodAction, { namespace: `iso-${n}`, pod: 'suspect' }, options, deps())).status).toBe('succeeded');
    expect(fake.node(b.name)?.spec?.['unschedulable']).toBe(true);
  });

  it('dry run lists the pods it would evict and leave, and writes nothing', async () => {
    const t = node();
    fake.clearRecords();
    const result = await invokeAction(drainNodeAction, { node: t.name }, { ...options, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(new RegExp(`^dry run: would drain node \\S+: cordon node \\S+, evict 2 pods \\(${t.ns}/web-a, ${t.ns}/web-b\\); left 1 DaemonSet pod, 1 mirror pod; `));
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([]);
    expect(fake.node(t.name)?.spec?.['unschedulable']).toBeUndefined();
  });

  describe('refusals', () => {
    it('refuses a node annotated sentinel.io/protected=true before listing or writing', async () => {
      const t = node({ annotations: { 'sentinel.io/protected': 'true' } });
      fake.clearRecords();
      const result = await invokeAction(drainNodeAction, { node: t.name }, options, deps());
      expect(result).toMatchObject({ status: 'failed', summary: `refusing to drain node ${t.name}: it is annotated sentinel.io/protected=true`, details: { error: 'ProtectedNode', final: true } });
      expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual([`GET /api/v1/nodes/${t.name}`]);
    });

    it('refuses a node with a protected label (SENTINEL_PROTECTED_NODE_LABELS: key or key=value)', async () => {
      const a = node({ labels: { 'node-role.kubernetes.io/control-plane': '' } });
      const byDefault = await invokeAction(drainNodeAction, { node: a.name }, options, deps());
      expect(byDefault).toMatchObject({ status: 'failed', details: { error: 'ProtectedNode' } });
      expect(byDefault.summary).toBe(`refusing to drain node ${a.name}: it has the protected label node-role.kubernetes.io/control-plane (SENTINEL_PROTECTED_NODE_LABELS)`);
      const b = node({ labels: { pool: 'security-tools' } });
      const configured = await invokeAction(drainNodeAction, { node: b.name }, options, deps({ protectedNodeLabels: ['pool=security-tools'] }));
      expect(configured).toMatchObject({ status: 'failed', details: { error: 'ProtectedNode' } });
      expect(fake.node(b.name)?.spec?.['unschedulable']).toBeUndefined();
      const c = node({ labels: { pool: 'web' } });
      expect((await invokeAction(drainNodeAction, { node: c.name }, options, deps({ protectedNodeLabels: ['pool=security-tools'] }))).status).toBe('succeeded');
    });

    it('fails with NodeNotFound for a missing node', async () => {
      const result = await invokeAction(drainNodeAction, { node: 'ip-10-9-9-9.ap-northeast-2.compute.internal' }, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'NodeNotFound', final: true } });
    });

    it.each([
      [{ node: 'Node_1' }, /node/],
      [{ node: 'n', evictionRetries: 11 }, /evictionRetries/],
      [{ node: 'n', retryDelaySeconds: 61 }, /retryDelaySeconds/],
      [{ node: 'n', gracePeriodSeconds: 0 }, /gracePeriodSeconds/],
      [{ node: 'n', ignoreDaemonSets: false }, /ignoreDaemonSets/],
      [{}, /node/],
    ])('refuses bad input %j before any call', async (input, reason) => {
      fake.clearRecords();
      const result = await invokeAction(drainNodeAction, input, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('declares the RBAC it uses, that it is containment, and that evicted pods lose their memory', () => {
    expect(drainNodeAction.permissions).toEqual({
      iam: [],
      rbac: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      ],
    });
    expect(drainNodeAction.containment).toBe(true);
    expect(drainNodeAction.destroysMemory).toBe(true);
  });
});
