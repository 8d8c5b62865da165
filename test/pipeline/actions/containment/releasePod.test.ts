import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { isolatePod } from '../../../../src/pipeline/actions/containment/isolatePod.js';
import { releasePod, releasePodAction } from '../../../../src/pipeline/actions/containment/releasePod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { isolationId } from '../../../../src/pipeline/planning/planPodIsolation.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const INCIDENT = 'inc-2026-0042';
const options = { actor: 'discord:123456789012345678', incidentId: INCIDENT };

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
function target(opts: { node?: string; nodeUnschedulable?: boolean; namespace?: string } = {}) {
  counter += 1;
  const namespace = opts.namespace ?? `shop-${counter}`;
  const pod = `api-${counter}`;
  const node = opts.node ?? `ip-10-0-8-${counter}.ap-northeast-2.compute.internal`;
  if (!fake.node(node)) fake.addNode({ name: node, ...(opts.nodeUnschedulable ? { unschedulable: true } : {}) });
  fake.addPod({ namespace, name: pod, nodeName: node, labels: { app: 'api', tier: 'backend' }, annotations: { 'owner.example.com/team': 'payments' } });
  const id = isolationId(namespace, pod);
  return { namespace, pod, node, id, policyName: `sentinel-isolate-${id}` };
}

async function isolate(t: { namespace: string; pod: string }, cordonNode: boolean) {
  const r = await isolatePod({ input: { namespace: t.namespace, pod: t.pod, cordonNode }, ...options }, deps());
  expect(r.status).toBe('succeeded');
  return r;
}

/** A NetworkPolicy someone else made in the same namespace. */
async function foreignPolicy(namespace: string, name: string, podSelector: Record<string, unknown> = { matchLabels: { app: 'api' } }) {
  await createKubeClients(fake.kubeConfig()).networking.createNamespacedNetworkPolicy({
    namespace,
    body: { metadata: { name, labels: { team: 'netops' } }, spec: { podSelector, policyTypes: ['Ingress'], ingress: [{ _from: [{ podSelector: {} }] }] } },
  });
  return fake.networkPolicy(namespace, name);
}

const writes = () => fake.calls.filter((c) => c.method !== 'GET');

describe('release-pod', () => {
  it('removes an isolation that kept egress open exactly as it removes a deny-all one, leaving other policies alone', async () => {
    const t = target();
    const podBefore = fake.pod(t.namespace, t.pod).object();
    const other = await foreignPolicy(t.namespace, 'allow-logging');
    const isolated = await isolatePod(
      { input: { namespace: t.namespace, pod: t.pod, allow: { dns: true, cidrs: ['10.70.0.0/16'], namespaces: ['logging'] } }, ...options },
      deps(),
    );
    expect(isolated.status).toBe('succeeded');
    expect(fake.networkPolicy(t.namespace, t.policyName)?.spec?.['egress']).toHaveLength(3);
    fake.clearRecords();

    const result = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ policyDeleted: true, labelsRemoved: ['sentinel.io/isolated', 'sentinel.io/isolation-id'], annotationsRemoved: ['sentinel.io/incident'] });
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeUndefined();
    expect(fake.networkPolicy(t.namespace, 'allow-logging')).toEqual(other);
    const podAfter = fake.pod(t.namespace, t.pod).object();
    expect(podAfter.metadata.labels).toEqual(podBefore.metadata.labels);
    expect(podAfter.metadata.annotations).toEqual(podBefore.metadata.annotations);
    expect(writes().map((c) => `${c.method} ${c.path}`)).toEqual([
      `PATCH /api/v1/namespaces/${t.namespace}/pods/${t.pod}`,
      `DELETE /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName}`,
    ]);
  });

  it('removes exactly what isolate added and uncordons the node sentinel cordoned', async () => {
    const t = target();
    const podBefore = fake.pod(t.namespace, t.pod).object();
    const nodeBefore = fake.node(t.node)!;
    const other = await foreignPolicy(t.namespace, 'allow-from-frontend');
    await isolate(t, true);
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBe(true);
    fake.clearRecords();

    const result = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(
      `released pod ${t.namespace}/${t.pod}: uncordoned node ${t.node}, removed the sentinel labels from the pod, deleted NetworkPolicy ${t.policyName}`,
    );
    expect(result.details).toEqual({
      namespace: t.namespace,
      pod: t.pod,
      isolationId: t.id,
      podFound: true,
      labelsRemoved: ['sentinel.io/isolated', 'sentinel.io/isolation-id'],
      annotationsRemoved: ['sentinel.io/incident'],
      policyName: t.policyName,
      policyDeleted: true,
      foreignPolicyLeft: false,
      node: t.node,
      uncordoned: true,
      notes: [],
    });
    const podAfter = fake.pod(t.namespace, t.pod).object();
    expect(podAfter.metadata.labels).toEqual(podBefore.metadata.labels);
    expect(podAfter.metadata.annotations).toEqual(podBefore.metadata.annotations);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeUndefined();
    expect(fake.networkPolicy(t.namespace, 'allow-from-frontend')).toEqual(other);
    const nodeAfter = fake.node(t.node)!;
    expect(nodeAfter.spec).toEqual(nodeBefore.spec);
    expect(nodeAfter.metadata.annotations).toEqual(nodeBefore.metadata.annotations);
    expect(writes().map((c) => `${c.method} ${c.path} ${c.contentType ?? ''}`.trim())).toEqual([
      `PATCH /api/v1/nodes/${t.node} application/merge-patch+json`,
      `PATCH /api/v1/namespaces/${t.namespace}/pods/${t.pod} application/merge-patch+json`,
      `DELETE /apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName} application/json`,
    ]);
  });

  it('leaves a cordon someone else made in place', async () => {
    const t = target({ nodeUnschedulable: true });
    const nodeBefore = fake.node(t.node);
    await isolate(t, true);
    fake.clearRecords();

    const result = await releasePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ node: null, uncordoned: false, policyDeleted: true });
    expect(fake.calls.some((c) => c.path.startsWith('/api/v1/nodes'))).toBe(false);
    expect(fake.node(t.node)).toEqual(nodeBefore);
  });

  it('after an interrupted cordon, does not uncordon a node someone else then cordoned', async () => {
    // The cordon record went onto the policy, then the node patch failed; later an operator cordoned the node.
    const t = target();
    await isolate(t, false);
    const kube = createKubeClients(fake.kubeConfig());
    fake.injectFailure({ method: 'PATCH', path: `/api/v1/nodes/${t.node}`, code: 503, reason: 'ServiceUnavailable' });
    const failed = await isolatePod({ input: { namespace: t.namespace, pod: t.pod, cordonNode: true }, ...options }, deps()).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(fake.networkPolicy(t.namespace, t.policyName)?.metadata.annotations?.['sentinel.io/cordoned-node']).toBe(t.node);
    await kube.core.patchNode({ name: t.node, body: [{ op: 'add', path: '/spec/unschedulable', value: true }] });
    fake.clearRecords();

    const result = await releasePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ node: t.node, uncordoned: false });
    expect(result.details.notes).toEqual([`node ${t.node} carries no cordon record of this isolation: left as it is`]);
    expect(writes().some((c) => c.path.startsWith('/api/v1/nodes'))).toBe(false);
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBe(true);
  });

  it('keeps a shared node cordoned until the last sentinel isolation on it is released', async () => {
    const a = target();
    const b = target({ node: a.node });
    await isolate(a, true);
    const second = await isolate(b, true);
    expect(second.details).toMatchObject({ cordon: 'join', cordoned: true });

    const first = await releasePod({ input: { namespace: a.namespace, pod: a.pod }, ...options }, deps());
    expect(first.details).toMatchObject({ uncordoned: false, node: a.node });
    expect(first.details.notes).toEqual([`node ${a.node} stays cordoned: 1 other sentinel isolation(s) still hold it`]);
    expect(fake.node(a.node)?.spec?.['unschedulable']).toBe(true);

    const last = await releasePod({ input: { namespace: b.namespace, pod: b.pod }, ...options }, deps());
    expect(last.details).toMatchObject({ uncordoned: true });
    expect(fake.node(a.node)?.spec?.['unschedulable']).toBeUndefined();
    expect(Object.keys(fake.node(a.node)?.metadata.annotations ?? {}).filter((k) => k.startsWith('sentinel.io/'))).toEqual([]);
  });

  it('is skipped with no writes for a pod that is not isolated', async () => {
    const t = target();
    fake.clearRecords();
    const result = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`pod ${t.namespace}/${t.pod} is not isolated: nothing to release`);
    expect(writes()).toEqual([]);
  });

  it('is skipped when run again after a release', async () => {
    const t = target();
    await isolate(t, true);
    expect((await releasePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps())).status).toBe('succeeded');
    fake.clearRecords();
    const again = await releasePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());
    expect(again.status).toBe('skipped');
    expect(writes()).toEqual([]);
  });

  it('never deletes a NetworkPolicy sentinel did not create, even under its name', async () => {
    const t = target();
    const impostor = await foreignPolicy(t.namespace, t.policyName);
    fake.clearRecords();

    const result = await releasePod({ input: { namespace: t.namespace, pod: t.pod }, ...options }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(
      `pod ${t.namespace}/${t.pod} is not isolated: nothing to release; NetworkPolicy ${t.policyName} was not created by sentinel and was left alone`,
    );
    expect(result.details).toMatchObject({ foreignPolicyLeft: true, policyDeleted: false });
    expect(writes()).toEqual([]);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(impostor);
  });

  it('removes the policy when the pod is gone, and says so', async () => {
    const t = target();
    await isolate(t, true);
    fake.removePod(t.namespace, t.pod);
    fake.clearRecords();

    const result = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(
      `released pod ${t.namespace}/${t.pod} (the pod no longer exists): uncordoned node ${t.node}, deleted NetworkPolicy ${t.policyName}`,
    );
    expect(result.details).toMatchObject({ podFound: false, labelsRemoved: [], policyDeleted: true, uncordoned: true });
    expect(result.details).toHaveProperty('notes', [`pod ${t.namespace}/${t.pod} no longer exists`]);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeUndefined();
    expect(fake.node(t.node)?.spec?.['unschedulable']).toBeUndefined();
    expect(writes().some((c) => c.path.includes('/pods/'))).toBe(false);
  });

  it('dry run returns the plan and writes nothing', async () => {
    const t = target();
    await isolate(t, true);
    const policy = fake.networkPolicy(t.namespace, t.policyName);
    const pod = fake.pod(t.namespace, t.pod).object();
    const node = fake.node(t.node);
    fake.clearRecords();

    const result = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, { ...options, dryRun: true }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(
      `dry run: would release pod ${t.namespace}/${t.pod}: uncordon node ${t.node}, remove the sentinel labels from the pod, delete NetworkPolicy ${t.policyName}`,
    );
    expect(result.details).toMatchObject({ dryRun: true, policyDeleted: true, uncordoned: true, labelsRemoved: ['sentinel.io/isolated', 'sentinel.io/isolation-id'] });
    expect(writes()).toEqual([]);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toEqual(policy);
    expect(fake.pod(t.namespace, t.pod).object()).toEqual(pod);
    expect(fake.node(t.node)).toEqual(node);
  });

  it('refuses bad input as InvalidInput before any API call', async () => {
    fake.clearRecords();
    const result = await invokeAction(releasePodAction, { namespace: 'shop', pod: 'API_1' }, options, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    expect(result.summary).toMatch(/pod/);
    expect(fake.calls).toEqual([]);
  });

  it('reports an API failure as a retryable Kubernetes error and completes on rerun', async () => {
    const t = target();
    await isolate(t, false);
    fake.injectFailure({ method: 'DELETE', path: `/apis/networking.k8s.io/v1/namespaces/${t.namespace}/networkpolicies/${t.policyName}`, code: 500, message: 'boom' });
    const failed = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
    expect(failed).toMatchObject({ status: 'failed', details: { error: 'Kubernetes', final: false } });
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeDefined();

    const again = await invokeAction(releasePodAction, { namespace: t.namespace, pod: t.pod }, options, deps());
    expect(again.status).toBe('succeeded');
    expect(again.summary).toBe(`released pod ${t.namespace}/${t.pod}: deleted NetworkPolicy ${t.policyName}`);
    expect(fake.networkPolicy(t.namespace, t.policyName)).toBeUndefined();
  });

  it('declares exactly the RBAC it uses and no IAM', () => {
    expect(releasePodAction.id).toBe('release-pod');
    expect(releasePodAction.permissions).toEqual({
      iam: [],
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'delete'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      ],
    });
  });
});
