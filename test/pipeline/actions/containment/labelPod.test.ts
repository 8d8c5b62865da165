import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { labelPodAction } from '../../../../src/pipeline/actions/containment/labelPod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const options = { actor: 'discord:123456789012345678', incidentId: 'inc-2026-0101' };

function deps(settings: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws: {},
    kube: createKubeClients(fake.kubeConfig()),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

let n = 0;
function target(namespace?: string) {
  n += 1;
  const t = { namespace: namespace ?? `shop-${n}`, pod: `api-${n}` };
  fake.addPod({ namespace: t.namespace, name: t.pod, labels: { app: 'api', tier: 'backend' } });
  return t;
}

const writes = () => fake.calls.filter((c) => c.method !== 'GET');

describe('label-pod', () => {
  it('adds and changes only the labels asked for, with one merge patch', async () => {
    const t = target();
    fake.clearRecords();

    const result = await invokeAction(labelPodAction, { ...t, labels: { 'sentinel.io/suspect': 'true', tier: 'quarantine', app: 'api' } }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`labelled pod ${t.namespace}/${t.pod}: sentinel.io/suspect, tier (was "backend")`);
    expect(result.details).toEqual({
      namespace: t.namespace,
      pod: t.pod,
      field: 'labels',
      set: { 'sentinel.io/suspect': 'true', tier: 'quarantine' },
      replaced: { tier: 'backend' },
      unchanged: ['app'],
    });
    expect(fake.pod(t.namespace, t.pod).object().metadata.labels).toEqual({ app: 'api', tier: 'quarantine', 'sentinel.io/suspect': 'true' });
    expect(writes()).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: `/api/v1/namespaces/${t.namespace}/pods/${t.pod}`,
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { 'sentinel.io/suspect': 'true', tier: 'quarantine' } } },
      }),
    ]);
  });

  it('is skipped with no write when the pod already has the labels', async () => {
    const t = target();
    await invokeAction(labelPodAction, { ...t, labels: { 'sentinel.io/suspect': 'true' } }, options, deps());
    fake.clearRecords();
    const again = await invokeAction(labelPodAction, { ...t, labels: { 'sentinel.io/suspect': 'true' } }, options, deps());
    expect(again).toMatchObject({ status: 'skipped', summary: `pod ${t.namespace}/${t.pod} already has this label (sentinel.io/suspect)` });
    expect(writes()).toEqual([]);
  });

  it('dry run shows what would change and writes nothing', async () => {
    const t = target();
    fake.clearRecords();
    const result = await invokeAction(labelPodAction, { ...t, labels: { quarantine: 'yes' } }, { ...options, dryRun: true }, deps());
    expect(result).toMatchObject({ status: 'skipped', summary: `dry run: would label pod ${t.namespace}/${t.pod}: quarantine`, details: { dryRun: true, set: { quarantine: 'yes' } } });
    expect(writes()).toEqual([]);
    expect(fake.pod(t.namespace, t.pod).object().metadata.labels).toEqual({ app: 'api', tier: 'backend' });
  });

  it('fails with NotFound for a missing pod', async () => {
    const result = await invokeAction(labelPodAction, { namespace: 'shop', pod: 'gone', labels: { a: 'b' } }, options, deps());
    expect(result).toMatchObject({ status: 'failed', summary: 'pod shop/gone not found', details: { error: 'NotFound', final: true } });
  });

  describe('refusals', () => {
    it.each(['kube-system', 'kube-public', 'kube-node-lease'])('refuses the system namespace %s before any API call', async (namespace) => {
      const t = target(namespace);
      fake.clearRecords();
      const result = await invokeAction(labelPodAction, { ...t, labels: { a: 'b' } }, options, deps());
      expect(result).toMatchObject({ status: 'failed', summary: `refusing to label a pod in the system namespace ${namespace}`, details: { error: 'ProtectedNamespace' } });
      expect(fake.calls).toEqual([]);
    });

    it('refuses a configured protected namespace before any API call', async () => {
      const t = target('payments');
      fake.clearRecords();
      const result = await invokeAction(labelPodAction, { ...t, labels: { a: 'b' } }, options, deps({ protectedNamespaces: ['payments'] }));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace' } });
      expect(fake.calls).toEqual([]);
    });

    it.each([
      [{ 'kubernetes.io/hostname': 'x' }, /kubernetes\.io\/ and k8s\.io\/ belong to Kubernetes/],
      [{ 'node.kubernetes.io/role': 'x' }, /belong to Kubernetes/],
      [{ 'k8s.io/x': 'y' }, /belong to Kubernetes/],
      [{ 'app.k8s.io/x': 'y' }, /belong to Kubernetes/],
      [{ 'sentinel.io/isolation-id': '0123456789' }, /record of a sentinel isolation/],
      [{ 'sentinel.io/isolated': 'true' }, /record of a sentinel isolation/],
      [{ 'Bad Key': 'x' }, /name part must consist/],
      [{ 'a/b/c': 'x' }, /at most one "\/"/],
      [{ ['x'.repeat(64)]: 'x' }, /longer than 63/],
      [{ 'UPPER.example/x': 'x' }, /prefix must be a lowercase DNS subdomain/],
      [{ app: 'has space' }, /label value must be empty or consist/],
      [{ app: 'v'.repeat(64) }, /at most 63 characters/],
      [{ app: 1 }, /labels/],
      [{}, /at least one label/],
      [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])), /at most 32 labels/],
    ])('refuses labels %j before any API call', async (labels, reason) => {
      fake.clearRecords();
      const result = await invokeAction(labelPodAction, { namespace: 'shop', pod: 'api-1', labels }, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });

    it('accepts the empty label value and sentinel.io/ keys outside its isolation record', async () => {
      const t = target();
      const result = await invokeAction(labelPodAction, { ...t, labels: { 'sentinel.io/incident-tier': '', 'example.com/owner': 'team-a' } }, options, deps());
      expect(result.status).toBe('succeeded');
      expect(fake.pod(t.namespace, t.pod).object().metadata.labels).toMatchObject({ 'sentinel.io/incident-tier': '', 'example.com/owner': 'team-a' });
    });
  });

  it('declares the RBAC it uses', () => {
    expect(labelPodAction.permissions).toEqual({ iam: [], rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }] });
  });
});
