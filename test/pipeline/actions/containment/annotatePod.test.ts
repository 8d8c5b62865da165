import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { annotatePodAction } from '../../../../src/pipeline/actions/containment/annotatePod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const options = { actor: 'discord:123456789012345678', incidentId: 'inc-2026-0102' };

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
function target(namespace?: string, annotations: Record<string, string> = { 'owner.example.com/team': 'payments' }) {
  n += 1;
  const t = { namespace: namespace ?? `shop-${n}`, pod: `api-${n}` };
  fake.addPod({ namespace: t.namespace, name: t.pod, annotations });
  return t;
}

const writes = () => fake.calls.filter((c) => c.method !== 'GET');
const NOTE = 'Falco: Terminal shell in container (user=root shell=bash)\nsee incident channel';

describe('annotate-pod', () => {
  it('adds and changes annotations with any text value, keeping the others', async () => {
    const t = target();
    fake.clearRecords();

    const result = await invokeAction(annotatePodAction, { ...t, annotations: { 'sentinel.io/note': NOTE, 'owner.example.com/team': 'security' } }, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`annotated pod ${t.namespace}/${t.pod}: sentinel.io/note, owner.example.com/team (was "payments")`);
    expect(result.details).toMatchObject({ field: 'annotations', replaced: { 'owner.example.com/team': 'payments' }, unchanged: [] });
    expect(fake.pod(t.namespace, t.pod).object().metadata.annotations).toEqual({ 'owner.example.com/team': 'security', 'sentinel.io/note': NOTE });
    expect(writes()).toEqual([expect.objectContaining({ method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'sentinel.io/note': NOTE, 'owner.example.com/team': 'security' } } } })]);
  });

  it('is skipped with no write when run again', async () => {
    const t = target();
    await invokeAction(annotatePodAction, { ...t, annotations: { 'sentinel.io/note': NOTE } }, options, deps());
    fake.clearRecords();
    const again = await invokeAction(annotatePodAction, { ...t, annotations: { 'sentinel.io/note': NOTE } }, options, deps());
    expect(again.status).toBe('skipped');
    expect(writes()).toEqual([]);
  });

  it('dry run writes nothing', async () => {
    const t = target();
    fake.clearRecords();
    const result = await invokeAction(annotatePodAction, { ...t, annotations: { 'sentinel.io/note': 'x' } }, { ...options, dryRun: true }, deps());
    expect(result).toMatchObject({ status: 'skipped', summary: `dry run: would annotate pod ${t.namespace}/${t.pod}: sentinel.io/note` });
    expect(writes()).toEqual([]);
  });

  it("refuses a change that would take the pod's annotations past Kubernetes' 256 KiB, writing nothing", async () => {
    const t = target(undefined, { 'example.com/big': 'x'.repeat(200 * 1024) });
    fake.clearRecords();
    const result = await invokeAction(annotatePodAction, { ...t, annotations: { 'example.com/more': 'y'.repeat(100 * 1024) } }, options, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'AnnotationsTooLarge', final: true } });
    expect(writes()).toEqual([]);
  });

  describe('refusals', () => {
    it('refuses system and protected namespaces before any API call', async () => {
      for (const [namespace, settings] of [['kube-system', {}], ['vault', { protectedNamespaces: ['vault'] }]] as const) {
        const t = target(namespace);
        fake.clearRecords();
        const result = await invokeAction(annotatePodAction, { ...t, annotations: { a: 'b' } }, options, deps(settings));
        expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace' } });
        expect(result.summary).toMatch(/^refusing to annotate a pod in the (system|protected) namespace/);
        expect(fake.calls).toEqual([]);
      }
    });

    it.each([
      [{ 'kubectl.kubernetes.io/default-container': 'x' }, /belong to Kubernetes/],
      [{ 'kubernetes.io/config.mirror': 'x' }, /belong to Kubernetes/],
      [{ 'sentinel.io/incident': 'inc-forged' }, /record of a sentinel isolation/],
      [{ 'sentinel.io/allowed-egress': '{}' }, /record of a sentinel isolation/],
      [{ 'no spaces': 'x' }, /name part/],
      [{ a: 7 }, /annotations/],
      [{ 'example.com/huge': 'z'.repeat(256 * 1024) }, /at most 262144 bytes/],
    ])('refuses annotations %j before any API call', async (annotations, reason) => {
      fake.clearRecords();
      const result = await invokeAction(annotatePodAction, { namespace: 'shop', pod: 'api-1', annotations }, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('declares the RBAC it uses', () => {
    expect(annotatePodAction.permissions).toEqual({ iam: [], rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }] });
  });
});
