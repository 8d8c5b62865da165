/**
 * The fake Kubernetes API's custom resources, through the real client-node's CustomObjectsApi:
 * 404 for a group nobody installed (a cluster without Cilium or the Calico API server), then
 * create, get, list by label, delete with preconditions and dry runs, with the status codes and
 * Status bodies the API server answers, and the pruning a CRD's schema applies.
 */
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALICO_GLOBAL_NETWORK_POLICY, CILIUM_CLUSTERWIDE_POLICY, CILIUM_CLUSTERWIDE_POLICY_WITHOUT_DEFAULT_DENY_FIELD } from '../../support/fakeKube/crds.js';
import { startFakeKube, type FakeKube } from '../../support/fakeKube/index.js';

let fake: FakeKube;
let custom: CustomObjectsApi;

beforeAll(async () => {
  fake = await startFakeKube();
  custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => fake.close());

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiException);
  const e = err as ApiException<string>;
  return { code: e.code, body: typeof e.body === 'string' && e.body !== '' ? (JSON.parse(e.body) as Record<string, unknown>) : {} };
}

const ccnp = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumClusterwideNetworkPolicy',
  metadata: { name, labels },
  spec: { endpointSelector: {}, enableDefaultDeny: { egress: false, ingress: false }, egressDeny: [{ toCIDR: ['203.0.113.7/32'] }] },
});
const cilium = { group: 'cilium.io', version: 'v2', plural: 'ciliumclusterwidenetworkpolicies' };

describe('custom resources in the fake API', () => {
  it('answers 404 "the server could not find the requested resource" for a resource nobody installed', async () => {
    const list = await apiError(custom.listClusterCustomObject({ ...cilium }));
    expect(list.code).toBe(404);
    expect(list.body).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'the server could not find the requested resource' });
    const create = await apiError(custom.createClusterCustomObject({ ...cilium, body: ccnp('x') }));
    expect(create.code).toBe(404);
  });

  it('once installed: create (201, with uid, resourceVersion and generation), get, list by label, and 404 for an object that is not there', async () => {
    fake.installCustomResource(CILIUM_CLUSTERWIDE_POLICY);
    try {
      const made = (await custom.createClusterCustomObject({ ...cilium, body: ccnp('deny-a', { 'sentinel.io/created-by': 'sentinel' }) })) as { metadata: Record<string, unknown>; spec: unknown };
      expect(made.metadata).toMatchObject({ name: 'deny-a', generation: 1, labels: { 'sentinel.io/created-by': 'sentinel' } });
      expect(typeof made.metadata.uid).toBe('string');
      expect(made.spec).toEqual(ccnp('x').spec);
      await custom.createClusterCustomObject({ ...cilium, body: ccnp('other') });
      const got = (await custom.getClusterCustomObject({ ...cilium, name: 'deny-a' })) as { metadata: { uid: string } };
      expect(got.metadata.uid).toBe(made.metadata.uid);
      const listed = (await custom.listClusterCustomObject({ ...cilium, labelSelector: 'sentinel.io/created-by=sentinel' })) as { kind: string; items: { metadata: { name: string } }[] };
      expect(listed.kind).toBe('CiliumClusterwideNetworkPolicyList');
      expect(listed.items.map((i) => i.metadata.name)).toEqual(['deny-a']);
      const missing = await apiError(custom.getClusterCustomObject({ ...cilium, name: 'nope' }));
      expect(missing).toMatchObject({ code: 404, body: { reason: 'NotFound', message: 'ciliumclusterwidenetworkpolicies.cilium.io "nope" not found', details: { name: 'nope', group: 'cilium.io' } } });
      const again = await apiError(custom.createClusterCustomObject({ ...cilium, body: ccnp('deny-a') }));
      expect(again).toMatchObject({ code: 409, body: { reason: 'AlreadyExists' } });
      const wrongKind = await apiError(custom.createClusterCustomObject({ ...cilium, body: { ...ccnp('y'), kind: 'CiliumNetworkPolicy' } }));
      expect(wrongKind.code).toBe(400);
    } finally {
      fake.uninstallCustomResource(cilium.group, cilium.plural);
    }
  });

  it('a dry run stores nothing; delete honours a uid precondition (409 for another object of that name) and answers 404 once gone', async () => {
    fake.installCustomResource(CILIUM_CLUSTERWIDE_POLICY);
    try {
      await custom.createClusterCustomObject({ ...cilium, body: ccnp('dry'), dryRun: 'All' });
      expect(fake.customObject(cilium.group, cilium.plural, 'dry')).toBeUndefined();
      const made = (await custom.createClusterCustomObject({ ...cilium, body: ccnp('del') })) as { metadata: { uid: string } };
      const wrong = await apiError(custom.deleteClusterCustomObject({ ...cilium, name: 'del', body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } }));
      expect(wrong.code).toBe(409);
      expect(String(wrong.body.message)).toContain('Precondition failed: UID in precondition');
      await custom.deleteClusterCustomObject({ ...cilium, name: 'del', dryRun: 'All', body: { preconditions: { uid: made.metadata.uid } } });
      expect(fake.customObject(cilium.group, cilium.plural, 'del')).toBeDefined();
      await custom.deleteClusterCustomObject({ ...cilium, name: 'del', body: { preconditions: { uid: made.metadata.uid } } });
      expect(fake.customObject(cilium.group, cilium.plural, 'del')).toBeUndefined();
      expect((await apiError(custom.deleteClusterCustomObject({ ...cilium, name: 'del' }))).code).toBe(404);
    } finally {
      fake.uninstallCustomResource(cilium.group, cilium.plural);
    }
  });

  it('a definition that prunes a field drops it on create and on a dry-run create, as a structural schema does', async () => {
    fake.installCustomResource(CILIUM_CLUSTERWIDE_POLICY_WITHOUT_DEFAULT_DENY_FIELD);
    try {
      const dry = (await custom.createClusterCustomObject({ ...cilium, body: ccnp('old'), dryRun: 'All' })) as { spec: Record<string, unknown> };
      expect(dry.spec.enableDefaultDeny).toBeUndefined();
      expect(dry.spec.egressDeny).toBeDefined();
    } finally {
      fake.uninstallCustomResource(cilium.group, cilium.plural);
    }
  });

  it('uninstalling removes the objects with the definition; other groups stay 404', async () => {
    fake.installCustomResource(CALICO_GLOBAL_NETWORK_POLICY);
    const calico = { group: 'projectcalico.org', version: 'v3', plural: 'globalnetworkpolicies' };
    await custom.createClusterCustomObject({ ...calico, body: { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'sentinel.x' }, spec: { selector: 'all()' } } });
    expect(fake.customObjects(calico.group, calico.plural)).toHaveLength(1);
    expect((await apiError(custom.listClusterCustomObject({ ...cilium }))).code).toBe(404);
    fake.uninstallCustomResource(calico.group, calico.plural);
    expect((await apiError(custom.listClusterCustomObject({ ...calico }))).code).toBe(404);
    expect(fake.customObjects(calico.group, calico.plural)).toEqual([]);
  });
});
