import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { terminatePodAction } from '../../../../src/pipeline/actions/containment/terminatePod.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

const options = { actor: 'discord:123456789012345678', incidentId: 'inc-2026-0100' };

function deps(settings: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws: {},
    kube: createKubeClients(fake.kubeConfig()),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

const REPLICASET = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8', uid: '5a7f0b52-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true };
let n = 0;
function target(opts: { namespace?: string; owner?: Record<string, unknown> | null; annotations?: Record<string, string>; grace?: number } = {}) {
  n += 1;
  const namespace = opts.namespace ?? `shop-${n}`;
  const name = `web-7d9f8-${n}x`;
  fake.addPod({
    namespace,
    name,
    ...(opts.owner === null ? {} : { ownerReferences: [opts.owner ?? REPLICASET] }),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
    ...(opts.grace !== undefined ? { terminationGracePeriodSeconds: opts.grace } : {}),
  });
  return { namespace, pod: name };
}

const writes = () => fake.calls.filter((c) => c.method !== 'GET');

describe('terminate-pod', () => {
  it("deletes the pod with its own grace period, conditioned on its uid, and says its controller replaces it", async () => {
    const t = target({ grace: 20 });
    const uid = fake.pod(t.namespace, t.pod).object().metadata.uid;
    fake.clearRecords();

    const result = await invokeAction(terminatePodAction, t, options, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`terminated pod ${t.namespace}/${t.pod} (grace period 20 s): its ReplicaSet web-7d9f8 will replace it`);
    expect(result.details).toMatchObject({ uid, controller: { kind: 'ReplicaSet', name: 'web-7d9f8' }, gracePeriodSeconds: 20, force: false, deletionTimestamp: expect.any(String), notes: [] });
    expect(writes()).toEqual([
      expect.objectContaining({ method: 'DELETE', path: `/api/v1/namespaces/${t.namespace}/pods/${t.pod}`, query: { gracePeriodSeconds: '20' }, body: expect.objectContaining({ preconditions: { uid } }), statusCode: 200 }),
    ]);
    // Terminating: still there until the grace period has passed.
    expect(fake.pod(t.namespace, t.pod).object().metadata).toMatchObject({ deletionGracePeriodSeconds: 20, deletionTimestamp: expect.any(String) });
  });

  it('uses the grace period asked for', async () => {
    const t = target();
    const result = await invokeAction(terminatePodAction, { ...t, gracePeriodSeconds: 5 }, options, deps());
    expect(result.details).toMatchObject({ gracePeriodSeconds: 5 });
    expect(fake.pod(t.namespace, t.pod).object().metadata.deletionGracePeriodSeconds).toBe(5);
  });

  it('is skipped, writing nothing, when run again on a terminating pod, and when the pod is gone', async () => {
    const t = target();
    expect((await invokeAction(terminatePodAction, t, options, deps())).status).toBe('succeeded');
    fake.clearRecords();
    const again = await invokeAction(terminatePodAction, t, options, deps());
    expect(again.status).toBe('skipped');
    expect(again.summary).toMatch(new RegExp(`^pod ${t.namespace}/${t.pod} is already terminating \\(removed by \\d{4}-`));
    expect(writes()).toEqual([]);

    fake.removePod(t.namespace, t.pod);
    const gone = await invokeAction(terminatePodAction, t, options, deps());
    expect(gone).toMatchObject({ status: 'skipped', summary: `pod ${t.namespace}/${t.pod} does not exist (already deleted?): nothing to terminate` });
    expect(writes()).toEqual([]);
  });

  it('dry run shows the plan and deletes nothing', async () => {
    const t = target();
    fake.clearRecords();
    const result = await invokeAction(terminatePodAction, t, { ...options, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: would terminate pod ${t.namespace}/${t.pod} (grace period 30 s): its ReplicaSet web-7d9f8 will replace it`);
    expect(result.details).toMatchObject({ dryRun: true, gracePeriodSeconds: 30 });
    expect(writes()).toEqual([]);
    expect(fake.pod(t.namespace, t.pod).object().metadata.deletionTimestamp).toBeUndefined();
  });

  it('refuses a bare pod unless forced, and says nothing will recreate it', async () => {
    const t = target({ owner: null });
    fake.clearRecords();
    const refused = await invokeAction(terminatePodAction, t, options, deps());
    expect(refused).toMatchObject({ status: 'failed', details: { error: 'NoController', final: true } });
    expect(refused.summary).toBe(`refusing to terminate pod ${t.namespace}/${t.pod}: it has no controller (ownerReferences), so nothing would recreate it; pass force: true to delete it anyway`);
    expect(writes()).toEqual([]);

    const forced = await invokeAction(terminatePodAction, { ...t, force: true }, options, deps());
    expect(forced.status).toBe('succeeded');
    expect(forced.summary).toBe(`terminated pod ${t.namespace}/${t.pod} (grace period 30 s): it has no controller: nothing will recreate it`);
    expect(forced.details).toMatchObject({ controller: null, force: true, notes: ['a bare pod: nothing will recreate it'] });
  });

  it('names a DaemonSet as what restarts the pod on the same node', async () => {
    const t = target({ owner: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluent-bit', uid: 'u-ds', controller: true } });
    const result = await invokeAction(terminatePodAction, t, options, deps());
    expect(result.summary).toMatch(/its DaemonSet fluent-bit will start a new one on the same node$/);
  });

  it('refuses a mirror pod: deleting it would not stop the static pod', async () => {
    const t = target({ owner: { apiVersion: 'v1', kind: 'Node', name: 'ip-10-0-1-10', uid: 'u-node', controller: true }, annotations: { 'kubernetes.io/config.mirror': 'abc123' } });
    fake.clearRecords();
    const result = await invokeAction(terminatePodAction, { ...t, force: true }, options, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'MirrorPod', final: true } });
    expect(writes()).toEqual([]);
  });

  it('leaves a pod recreated under the same name alone (uid precondition answers 409)', async () => {
    const t = target();
    // The pod read is replaced by a new one between the read and the delete.
    fake.injectFailure({ method: 'DELETE', path: `/api/v1/namespaces/${t.namespace}/pods/${t.pod}`, code: 409, reason: 'Conflict', message: `Operation cannot be fulfilled on pods "${t.pod}": Precondition failed: UID in precondition: a, UID in object meta: b` });
    const result = await invokeAction(terminatePodAction, t, options, deps());
    expect(result).toMatchObject({ status: 'skipped', summary: `pod ${t.namespace}/${t.pod} was replaced by a new pod of the same name since it was read; the new one was left alone` });
  });

  describe('refusals', () => {
    it.each(['kube-system', 'kube-public', 'kube-node-lease'])('refuses the system namespace %s before any API call', async (namespace) => {
      const t = target({ namespace });
      fake.clearRecords();
      const result = await invokeAction(terminatePodAction, t, options, deps());
      expect(result).toMatchObject({ status: 'failed', summary: `refusing to terminate a pod in the system namespace ${namespace}`, details: { error: 'ProtectedNamespace', final: true } });
      expect(fake.calls).toEqual([]);
    });

    it('refuses a configured protected namespace before any API call', async () => {
      const t = target({ namespace: 'vault' });
      fake.clearRecords();
      const result = await invokeAction(terminatePodAction, { ...t, force: true }, options, deps({ protectedNamespaces: ['vault'] }));
      expect(result).toMatchObject({ status: 'failed', summary: 'refusing to terminate a pod in the protected namespace vault (SENTINEL_PROTECTED_NAMESPACES)' });
      expect(fake.calls).toEqual([]);
    });

    it.each([
      [{ namespace: 'web', pod: 'x', gracePeriodSeconds: 0 }, /gracePeriodSeconds/],
      [{ namespace: 'web', pod: 'x', gracePeriodSeconds: 3601 }, /gracePeriodSeconds/],
      [{ namespace: 'web', pod: 'x', gracePeriodSeconds: 1.5 }, /gracePeriodSeconds/],
      [{ namespace: 'web', pod: 'x', force: 'true' }, /force/],
      [{ namespace: 'web', pod: 'X' }, /pod/],
      [{ namespace: 'web', pod: 'x', now: true }, /now/],
    ])('refuses bad input %j before any API call', async (input, reason) => {
      fake.clearRecords();
      const result = await invokeAction(terminatePodAction, input, options, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('declares the RBAC it uses, that it is containment, and that it destroys the pod\'s memory', () => {
    expect(terminatePodAction.permissions).toEqual({ iam: [], rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }] });
    expect(terminatePodAction.containment).toBe(true);
    expect(terminatePodAction.destroysMemory).toBe(true);
  });
});
