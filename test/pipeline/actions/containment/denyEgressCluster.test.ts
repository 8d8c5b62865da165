/**
 * deny-egress and unblock-egress with a cluster backend (SENTINEL_EGRESS_BACKEND cilium or calico)
 * against the fake Kubernetes API serving Cilium's and Calico's resources through the real
 * client-node, with block records in the local object store (embedded mode's S3): the policy made,
 * its record, a dry run, the idempotent repeat, protected destinations (built-in ranges, the
 * allowlist, the nodes' own addresses), a resource that is not installed, an existing policy that
 * is not sentinel's, Cilium too old to keep enableDefaultDeny, Calico's tier, a record that cannot
 * be written (the policy is taken out again), and unblock lifting exactly what was made.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore, localS3Client } from '../../../../src/aws/localObjectStore.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { denyEgressAction, type DenyEgressInput } from '../../../../src/pipeline/actions/containment/denyEgress.js';
import type { ClusterDenyEgressDetails } from '../../../../src/pipeline/actions/containment/denyEgressInCluster.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { unblockEgressAction, type UnblockEgressDetails } from '../../../../src/pipeline/actions/containment/unblockEgress.js';
import { listAllClusterBlocks } from '../../../../src/pipeline/blocks/clusterBlockRegistry.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { testDeps, testSettings } from '../../../helpers/deps.js';
import { CALICO_GLOBAL_NETWORK_POLICY, CALICO_TIER, CILIUM_CLUSTERWIDE_POLICY, CILIUM_CLUSTERWIDE_POLICY_WITHOUT_DEFAULT_DENY_FIELD } from '../../../support/fakeKube/crds.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

const BUCKET = 'sentinel-evidence';
const NODE_EXTERNAL_IP = '203.0.113.200';

let fake: FakeKube;
let dataDir: string;
const dirs: string[] = [];

beforeAll(async () => {
  fake = await startFakeKube();
  fake.addNode({ name: 'ip-10-0-7-21.ap-northeast-2.compute.internal', internalIP: '10.0.7.21', externalIP: NODE_EXTERNAL_IP });
  dataDir = await mkdtemp(join(tmpdir(), 'sentinel-cluster-egress-'));
});
afterAll(async () => {
  await fake.close();
  await Promise.all([dataDir, ...dirs].map((d) => rm(d, { recursive: true, force: true })));
});

type Backend = 'cilium' | 'calico';
const API = {
  cilium: { group: 'cilium.io', plural: 'ciliumclusterwidenetworkpolicies', def: CILIUM_CLUSTERWIDE_POLICY },
  calico: { group: 'projectcalico.org', plural: 'globalnetworkpolicies', def: CALICO_GLOBAL_NETWORK_POLICY },
} as const;

function depsFor(backend: Backend, over: { dataDir?: string; egressAllowlist?: string[] } = {}): ActionDeps {
  return testDeps({
    // Each backend its own store: records one backend's tests leave on purpose stay out of the other's.
    aws: { s3: localS3Client(createLocalObjectStore(over.dataDir ?? join(dataDir, backend))) },
    kube: createKubeClients(fake.kubeConfig()),
    settings: testSettings({ egressBackend: backend, evidenceBucket: BUCKET, ...(over.egressAllowlist ? { egressAllowlist: over.egressAllowlist } : {}) }),
  });
}

const deny = (deps: ActionDeps, input: Partial<DenyEgressInput> & { ip: string }, options: { dryRun?: boolean; actor?: string } = {}) =>
  invokeAction(denyEgressAction, input, { actor: options.actor ?? 'stepfunctions:pod-1', incidentId: 'inc-cluster-1', ...(options.dryRun ? { dryRun: true } : {}) }, deps);
const unblock = (deps: ActionDeps, input: Record<string, unknown>, dryRun = false) =>
  invokeAction(unblockEgressAction, input, { actor: 'discord:111', incidentId: 'manual-1', ...(dryRun ? { dryRun: true } : {}) }, deps);

function install(backend: Backend): void {
  fake.installCustomResource(API[backend].def);
  if (backend === 'calico') fake.installCustomResource(CALICO_TIER);
}
function uninstall(backend: Backend): void {
  fake.uninstallCustomResource(API[backend].group, API[backend].plural);
  if (backend === 'calico') fake.uninstallCustomResource('projectcalico.org', 'tiers');
}
const policies = (backend: Backend) => fake.customObjects(API[backend].group, API[backend].plural);

describe.each(['cilium', 'calico'] as const)('deny-egress with SENTINEL_EGRESS_BACKEND=%s', (backend) => {
  // Each test in its own IP; the CRDs installed for the block only where the test says.
  it('refuses when the backend is not installed, naming it, and records nothing', async () => {
    const deps = depsFor(backend);
    const r = await deny(deps, { ip: '198.51.100.11' });
    expect(r.status).toBe('failed');
    expect(r.summary).toMatch(backend === 'cilium' ? /^Cilium is not installed/ : /^Calico is not installed/);
    expect(r.details).toMatchObject({ error: backend === 'cilium' ? 'CiliumNotInstalled' : 'CalicoNotInstalled', final: true });
    expect(await listAllClusterBlocks({ s3: deps.aws.s3!, bucket: BUCKET })).toEqual([]);
  });

  it('dry run: plans the policy (validated by the API server) and changes nothing', async () => {
    install(backend);
    try {
      const r = await deny(depsFor(backend), { ip: '198.51.100.12', port: 443 }, { dryRun: true });
      expect(r.status).toBe('skipped');
      expect(r.summary).toMatch(new RegExp(`^dry run: would deny TCP egress from every pod to 198\\.51\\.100\\.12 tcp/443 with ${API[backend].def.kind} `));
      if (backend === 'calico') expect(r.summary).toContain('after creating the Calico tier sentinel');
      expect(r.details).toMatchObject({ dryRun: true, created: false, record: null, backend });
      expect(policies(backend)).toEqual([]);
      expect(fake.customObjects('projectcalico.org', 'tiers')).toEqual([]);
    } finally {
      uninstall(backend);
    }
  });

  it('blocks with one cluster-wide policy recorded with its uid and expiry; a repeat is skipped; unblock deletes exactly it', async () => {
    install(backend);
    try {
      const deps = depsFor(backend);
      const r = await deny(deps, { ip: '198.51.100.13', port: 4444, node: 'ip-10-0-7-21.ap-northeast-2.compute.internal', severity: 'high' });
      expect(r.status, r.summary).toBe('succeeded');
      const d = r.details as ClusterDenyEgressDetails;
      const [policy] = policies(backend);
      expect(policy).toBeDefined();
      expect(d).toMatchObject({ backend, ip: '198.51.100.13', port: 4444, created: true, policy: { name: policy!.metadata.name, uid: policy!.metadata.uid }, automatic: true });
      expect(d.notes).toEqual(['blocks cluster-wide: every pod, not only those on ip-10-0-7-21.ap-northeast-2.compute.internal']);
      expect(policy!.metadata.labels).toEqual({ 'sentinel.io/created-by': 'sentinel', 'sentinel.io/egress-block': 'true' });
      expect(policy!.metadata.annotations).toMatchObject({ 'sentinel.io/blocked': '198.51.100.13 tcp/4444', 'sentinel.io/incident': 'inc-cluster-1' });
      if (backend === 'cilium') {
        expect(policy!.metadata.name).toBe('sentinel-deny-egress-198-51-100-13-tcp-4444');
        expect(policy!.spec).toEqual({
          description: 'sentinel: deny TCP egress to 198.51.100.13 (tcp/4444)',
          endpointSelector: {},
          enableDefaultDeny: { egress: false, ingress: false },
          egressDeny: [{ toCIDR: ['198.51.100.13/32'], toPorts: [{ ports: [{ port: '4444', protocol: 'TCP' }] }] }],
        });
      } else {
        expect(policy!.metadata.name).toBe('sentinel.deny-egress-198-51-100-13-tcp-4444');
        expect(policy!.spec).toEqual({
          tier: 'sentinel',
          order: 100,
          selector: 'has(projectcalico.org/namespace)',
          types: ['Egress'],
          egress: [{ action: 'Deny', protocol: 'TCP', destination: { nets: ['198.51.100.13/32'], ports: [4444] } }, { action: 'Pass' }],
        });
        expect(fake.customObject('projectcalico.org', 'tiers', 'sentinel')).toMatchObject({ spec: { order: 100 }, metadata: { labels: { 'sentinel.io/created-by': 'sentinel' } } });
        expect(d.tier).toEqual({ name: 'sentinel', created: true });
      }
      const [record] = await listAllClusterBlocks({ s3: deps.aws.s3!, bucket: BUCKET });
      expect(record!.key).toBe(`blocks/198.51.100.13/${backend}/${policy!.metadata.name}.json`);
      expect(record!.record).toMatchObject({ kind: `${backend}-egress-deny`, ip: '198.51.100.13', port: 4444, severity: 'high', actor: 'stepfunctions:pod-1', policy: { name: policy!.metadata.name, uid: policy!.metadata.uid } });
      expect(Date.parse(record!.record.expiresAt!) - Date.now()).toBeGreaterThan(23 * 3600_000);
      expect(d.blockId).toBe(`198.51.100.13/${backend}/${policy!.metadata.name}`);

      const again = await deny(deps, { ip: '198.51.100.13', port: 4444 });
      expect(again.status).toBe('skipped');
      expect(again.summary).toMatch(/^egress to 198\.51\.100\.13 tcp\/4444 is already denied by /);
      expect(policies(backend)).toHaveLength(1);

      // Another port is another block; unblock of one port lifts only it.
      expect((await deny(deps, { ip: '198.51.100.13' })).status).toBe('succeeded');
      expect(policies(backend)).toHaveLength(2);
      const plan = await unblock(deps, { ip: '198.51.100.13', port: 4444 }, true);
      expect(plan.summary).toMatch(/^dry run: unblock 198\.51\.100\.13 tcp\/4444: delete /);
      expect(policies(backend)).toHaveLength(2);
      const lifted = await unblock(deps, { ip: '198.51.100.13', port: 4444 });
      expect(lifted.status, lifted.summary).toBe('succeeded');
      expect((lifted.details as UnblockEgressDetails).blocks).toMatchObject([{ outcome: 'removed', recordRemoved: true, backend, policy: { name: policy!.metadata.name } }]);
      expect(policies(backend).map((p) => p.metadata.name)).toEqual([policy!.metadata.name.replace('tcp-4444', 'tcp-all')]);
      // By its block id, the other one.
      const other = (await listAllClusterBlocks({ s3: deps.aws.s3!, bucket: BUCKET })).find((b) => b.record.ip === '198.51.100.13')!;
      const byId = await unblock(deps, { block: other.key.replace(/^blocks\//, '').replace(/\.json$/, '') });
      expect(byId.status, byId.summary).toBe('succeeded');
      expect(policies(backend)).toEqual([]);
      expect((await unblock(deps, { ip: '198.51.100.13' })).summary).toBe('no block by sentinel for 198.51.100.13');
    } finally {
      uninstall(backend);
    }
  });

  it('refuses protected destinations before any write: private ranges, the allowlist, the nodes\' own addresses', async () => {
    install(backend);
    try {
      const deps = depsFor(backend, { egressAllowlist: ['198.51.100.0/28'] });
      for (const ip of ['10.0.0.5', '198.51.100.3', NODE_EXTERNAL_IP]) {
        const r = await deny(deps, { ip });
        expect(r.status, ip).toBe('failed');
        expect(r.details, ip).toMatchObject({ error: 'ProtectedTarget', final: true });
      }
      expect((await deny(deps, { ip: NODE_EXTERNAL_IP })).summary).toBe(`refusing to deny egress to ${NODE_EXTERNAL_IP}: it is the ExternalIP of node ip-10-0-7-21.ap-northeast-2.compute.internal`);
      expect(policies(backend)).toEqual([]);
    } finally {
      uninstall(backend);
    }
  });

  it('leaves alone a policy of the same name that is not sentinel\'s block, and refuses network ACL inputs', async () => {
    install(backend);
    try {
      const deps = depsFor(backend);
      const name = backend === 'cilium' ? 'sentinel-deny-egress-198-51-100-14-tcp-all' : 'sentinel.deny-egress-198-51-100-14-tcp-all';
      const custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
      await custom.createClusterCustomObject({
        group: API[backend].group,
        version: API[backend].def.version,
        plural: API[backend].plural,
        body: { apiVersion: `${API[backend].group}/${API[backend].def.version}`, kind: API[backend].def.kind, metadata: { name }, spec: { someone: 'else' } },
      });
      const r = await deny(deps, { ip: '198.51.100.14' });
      expect(r.status).toBe('failed');
      expect(r.summary).toMatch(/exists but is not sentinel's deny of 198\.51\.100\.14 all TCP ports: it was left alone/);
      expect(policies(backend)).toEqual([expect.objectContaining({ spec: { someone: 'else' } })]);
      // Unblock never touches it either (no record).
      expect((await unblock(deps, { ip: '198.51.100.14' })).status).toBe('skipped');
      const nacl = await deny(deps, { ip: '198.51.100.15', naclId: 'acl-0123456789abcdef0' });
      expect(nacl.summary).toMatch(/naclId name a network ACL: SENTINEL_EGRESS_BACKEND is /);
    } finally {
      uninstall(backend);
    }
  });

  it('a record that cannot be written takes the policy out again: nothing is blocked unrecorded', async () => {
    install(backend);
    const broken = await mkdtemp(join(tmpdir(), 'sentinel-broken-store-'));
    dirs.push(broken);
    // The object store's directory is a file: every write fails.
    await writeFile(join(broken, 'objects'), 'not a directory');
    try {
      const r = await deny(depsFor(backend, { dataDir: broken }), { ip: '198.51.100.16' });
      expect(r.status).toBe('failed');
      expect(r.summary).toMatch(/^could not record the block \(.*\); .* was deleted again, so nothing is blocked$/);
      expect(policies(backend)).toEqual([]);
    } finally {
      uninstall(backend);
    }
  });

  it('a policy sentinel made whose record is missing (a run cut short) gets its record on the repeat', async () => {
    install(backend);
    const other = await mkdtemp(join(tmpdir(), 'sentinel-other-store-'));
    dirs.push(other);
    try {
      expect((await deny(depsFor(backend, { dataDir: other }), { ip: '198.51.100.17' })).status).toBe('succeeded');
      // Another store: the record is not there.
      const deps = depsFor(backend);
      const r = await deny(deps, { ip: '198.51.100.17' });
      expect(r.status, r.summary).toBe('succeeded');
      expect(r.summary).toMatch(/was already denied by .*, which had no block record: recorded it now/);
      expect(policies(backend)).toHaveLength(1);
      expect((await listAllClusterBlocks({ s3: deps.aws.s3!, bucket: BUCKET })).filter((b) => b.record.ip === '198.51.100.17')).toHaveLength(1);
      // A policy replaced under the same name (another uid) is left alone by unblock, its record kept.
      const name = policies(backend)[0]!.metadata.name;
      const custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
      const coords = { group: API[backend].group, version: API[backend].def.version, plural: API[backend].plural };
      const body = { ...policies(backend)[0]! };
      await custom.deleteClusterCustomObject({ ...coords, name });
      await custom.createClusterCustomObject({ ...coords, body: { apiVersion: body.apiVersion, kind: body.kind, metadata: { name, labels: body.metadata.labels }, spec: body.spec } });
      const lift = await unblock(deps, { ip: '198.51.100.17' });
      expect(lift.status).toBe('skipped');
      expect((lift.details as UnblockEgressDetails).blocks).toMatchObject([{ outcome: 'changed', recordRemoved: false }]);
      expect(policies(backend)).toHaveLength(1);
    } finally {
      uninstall(backend);
    }
  });
});

describe('deny-egress with Cilium before 1.16', () => {
  it('refuses (a server-side dry run shows the CRD would drop enableDefaultDeny, putting every pod into default-deny) and creates nothing', async () => {
    fake.installCustomResource(CILIUM_CLUSTERWIDE_POLICY_WITHOUT_DEFAULT_DENY_FIELD);
    try {
      const r = await deny(depsFor('cilium'), { ip: '198.51.100.18' });
      expect(r.status).toBe('failed');
      expect(r.details).toMatchObject({ error: 'CiliumTooOld' });
      expect(r.summary).toMatch(/Cilium before 1\.16/);
      expect(policies('cilium')).toEqual([]);
    } finally {
      fake.uninstallCustomResource('cilium.io', 'ciliumclusterwidenetworkpolicies');
    }
  });
});

describe('deny-egress with Calico and a tier that would come too late', () => {
  it('refuses a tier sentinel ordered at or after the default tier', async () => {
    install('calico');
    try {
      const custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
      await custom.createClusterCustomObject({ group: 'projectcalico.org', version: 'v3', plural: 'tiers', body: { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'sentinel' }, spec: { order: 2_000_000 } } });
      const r = await deny(depsFor('calico'), { ip: '198.51.100.19' });
      expect(r.status).toBe('failed');
      expect(r.summary).toMatch(/tier sentinel has order 2000000, at or after the default tier/);
      expect(policies('calico')).toEqual([]);
    } finally {
      uninstall('calico');
    }
  });
});
