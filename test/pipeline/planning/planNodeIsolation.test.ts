/**
 * isolate-node's planning without AWS: refusals, the isolation group choice, this incident's
 * snapshots, the stop decision, "already isolated", the dry run's plan, and the isolation record
 * (prior state written once, later runs only add).
 */
import type { Instance } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import {
  alreadyIsolated,
  checkConfiguredGroup,
  checkIsolationTarget,
  chooseIsolationGroup,
  dryRunReport,
  mergeIsolationRecord,
  newIsolationRecord,
  planStop,
  volumesToSnapshot,
  type NodeIsolationFacts,
} from '../../../src/pipeline/planning/planNodeIsolation.js';

const settings = loadConfig({ env: {}, envFile: false }).pipeline;
const ID = 'i-0123456789abcdef0';
const VPC = 'vpc-0aaa';
const AT = '2026-01-02T03:04:05.000Z';

const instance = (over: Partial<Instance> = {}): Instance => ({
  InstanceId: ID,
  State: { Name: 'running' },
  VpcId: VPC,
  Tags: [],
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-root' } }, { DeviceName: '/dev/sdf', Ebs: { VolumeId: 'vol-data' } }, { DeviceName: '/dev/sdz' }],
  NetworkInterfaces: [
    { NetworkInterfaceId: 'eni-2', VpcId: VPC, Attachment: { DeviceIndex: 1 }, Groups: [{ GroupId: 'sg-app' }] },
    { NetworkInterfaceId: 'eni-1', VpcId: VPC, Attachment: { DeviceIndex: 0 }, Groups: [{ GroupId: 'sg-web' }, { GroupId: 'sg-ssh' }] },
  ],
  ...over,
});

function facts(over: Partial<NodeIsolationFacts> = {}): NodeIsolationFacts {
  const inst = over.instance ?? instance();
  const t = checkIsolationTarget(inst, settings);
  return {
    instance: inst,
    ...t,
    group: { groupId: 'sg-iso', name: 'sentinel-isolation-vpc-0aaa', source: 'existing', rules: undefined },
    volumes: volumesToSnapshot(inst, []),
    asg: null,
    stopRequested: false,
    willStop: false,
    record: { location: 's3://evidence/isolations/i-0123456789abcdef0.json', stored: undefined },
    notes: [],
    ...over,
  };
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('the target', () => {
  it('gives the instance, its VPC and its network interfaces in device order', () => {
    const t = checkIsolationTarget(instance(), settings);
    expect([t.instanceId, t.state, t.vpcId, t.enis.map((e) => [e.networkInterfaceId, e.groups])]).toEqual([ID, 'running', VPC, [['eni-1', ['sg-web', 'sg-ssh']], ['eni-2', ['sg-app']]]]);
  });

  it('refuses a protected, gone, VPC-less, interface-less or multi-VPC instance', () => {
    expect(() => checkIsolationTarget(instance({ Tags: [{ Key: settings.protectedTag, Value: 'db' }] }), settings)).toThrow(`instance ${ID} is protected (tag ${settings.protectedTag}=db)`);
    expect(codeOf(() => checkIsolationTarget(instance({ State: { Name: 'terminated' } }), settings))).toBe('InstanceGone');
    expect(codeOf(() => checkIsolationTarget(instance({ VpcId: undefined }), settings))).toBe('NotInVpc');
    expect(codeOf(() => checkIsolationTarget(instance({ NetworkInterfaces: [] }), settings))).toBe('NoNetworkInterfaces');
    expect(codeOf(() => checkIsolationTarget(instance({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-x', VpcId: 'vpc-other', Groups: [] }] }), settings))).toBe('MultiVpcInstance');
  });
});

describe('the isolation group', () => {
  it('is the configured one when it is in the VPC (its rules noted), refused otherwise', () => {
    const notes: string[] = [];
    expect(checkConfiguredGroup({ GroupId: 'sg-c', GroupName: 'iso', VpcId: VPC, IpPermissionsEgress: [{ IpProtocol: '-1' }] }, 'sg-c', VPC, notes)).toMatchObject({ groupId: 'sg-c', source: 'configured' });
    expect(notes).toEqual(['the configured isolation group sg-c has 1 rule(s); traffic they allow still flows']);
    expect(() => checkConfiguredGroup(undefined, 'sg-c', VPC, [])).toThrow('SENTINEL_ISOLATION_SG_ID sg-c does not exist');
    expect(() => checkConfiguredGroup({ GroupId: 'sg-c', VpcId: 'vpc-b' }, 'sg-c', VPC, [])).toThrow(/is in vpc-b, not in the instance's VPC/);
  });

  it('else the first tagged one by id, else one to create, named for the VPC', () => {
    expect(chooseIsolationGroup([{ GroupId: 'sg-b' }, { GroupId: 'sg-a', GroupName: 'a' }], VPC)).toMatchObject({ groupId: 'sg-a', name: 'a', source: 'existing' });
    expect(chooseIsolationGroup([], VPC)).toEqual({ groupId: null, name: 'sentinel-isolation-vpc-0aaa', source: 'create', rules: undefined });
  });
});

describe('snapshots and the stop', () => {
  it("reuses this incident's snapshot of a volume unless it failed", () => {
    const snaps = [
      { SnapshotId: 'snap-1', State: 'completed' as const, Tags: [{ Key: 'sentinel:volume', Value: 'vol-root' }] },
      { SnapshotId: 'snap-2', State: 'error' as const, Tags: [{ Key: 'sentinel:volume', Value: 'vol-data' }] },
    ];
    expect(volumesToSnapshot(instance(), snaps)).toEqual([
      { volumeId: 'vol-root', deviceName: '/dev/xvda', existing: 'snap-1' },
      { volumeId: 'vol-data', deviceName: '/dev/sdf', existing: undefined },
    ]);
  });

  it('stops only a running (or pending) instance when asked, and warns outside standby', () => {
    expect(planStop('running', false, null, [])).toBe(false);
    expect(planStop('stopped', true, null, [])).toBe(false);
    const notes: string[] = [];
    expect(planStop('running', true, { groupName: 'web', lifecycleState: 'Pending:Wait' }, notes)).toBe(true);
    expect(notes).toEqual(['instance is Pending:Wait in Auto Scaling group web: it cannot be moved to standby', 'stopping it outside standby may make web replace (terminate) it']);
  });
});

describe('already isolated', () => {
  const isolatedInstance = instance({
    Tags: [{ Key: 'sentinel:isolated', Value: 'true' }],
    NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', VpcId: VPC, Attachment: { DeviceIndex: 0 }, Groups: [{ GroupId: 'sg-iso' }] }],
  });
  it('needs the tag, every interface on the group alone, no InService group and no stop still to do', () => {
    expect(alreadyIsolated(facts({ instance: isolatedInstance }))).toBe(true);
    expect(alreadyIsolated(facts())).toBe(false);
    expect(alreadyIsolated(facts({ instance: isolatedInstance, asg: { groupName: 'web', lifecycleState: 'InService' } }))).toBe(false);
    expect(alreadyIsolated(facts({ instance: isolatedInstance, willStop: true }))).toBe(false);
    expect(alreadyIsolated(facts({ instance: isolatedInstance, group: { groupId: null, name: 'x', source: 'create', rules: undefined } }))).toBe(false);
  });
});

describe('a dry run', () => {
  it('plans snapshots, standby, the group swap and the stop without changing anything', () => {
    const p = facts({ group: { groupId: null, name: 'sentinel-isolation-vpc-0aaa', source: 'create', rules: undefined }, asg: { groupName: 'web', lifecycleState: 'InService' }, willStop: true, stopRequested: true });
    const { summary, details } = dryRunReport(p, { node: ID, instanceId: ID, vpcId: VPC, stopRequested: true });
    expect(summary).toBe(`would isolate instance ${ID}: snapshot 2 volume(s), move it to standby in web, put 2 network interface(s) on sentinel-isolation-vpc-0aaa (would create), stop it (memory is lost)`);
    expect(details).toMatchObject({ isolationGroup: { groupId: null, source: 'would create' }, asg: { standby: 'would enter' }, destroysMemory: true, record: { state: 'would create' } });
    expect(details.securityGroups.map((g) => g.after)).toEqual([['sentinel-isolation-vpc-0aaa (would create)'], ['sentinel-isolation-vpc-0aaa (would create)']]);
  });
});

describe('the isolation record', () => {
  it('keeps the prior state of the first run; a later run adds only what it did and who asked', () => {
    const p = facts({ asg: { groupName: 'web', lifecycleState: 'InService' } });
    const first = mergeIsolationRecord(newIsolationRecord(p, 'sg-iso', AT), p, { incidentId: 'inc-1', actor: 'discord:1' }, 'sg-iso', { enteredStandby: true, snapshots: [{ volumeId: 'vol-root', deviceName: '/dev/xvda', snapshotId: 'snap-1', reused: false }] }, AT);
    expect(first.prior).toEqual({
      instanceState: 'running',
      networkInterfaces: [
        { networkInterfaceId: 'eni-1', deviceIndex: 0, groups: ['sg-web', 'sg-ssh'] },
        { networkInterfaceId: 'eni-2', deviceIndex: 1, groups: ['sg-app'] },
      ],
      autoScaling: { groupName: 'web', lifecycleState: 'InService' },
    });
    expect(first.sentinel).toEqual({ enteredStandby: true, stopped: false, snapshots: [{ volumeId: 'vol-root', deviceName: '/dev/xvda', snapshotId: 'snap-1' }] });

    // Later, half isolated: eni-1 already on the group, the group now in Standby.
    const later = facts({
      instance: instance({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', VpcId: VPC, Attachment: { DeviceIndex: 0 }, Groups: [{ GroupId: 'sg-iso' }] }] }),
      asg: { groupName: 'web', lifecycleState: 'Standby' },
    });
    const again = mergeIsolationRecord(first, later, { incidentId: 'inc-2', actor: 'discord:2', reason: 'again' }, 'sg-iso', { enteredStandby: false, snapshots: [] }, '2026-01-03T00:00:00.000Z');
    expect(again.prior).toEqual(first.prior);
    expect(again.sentinel.enteredStandby).toBe(true);
    expect(again.requests.map((r) => [r.incidentId, r.reason])).toEqual([['inc-1', undefined], ['inc-2', 'again']]);
    expect(again.updatedAt).toBe('2026-01-03T00:00:00.000Z');
    // The same request again changes nothing, not even updatedAt.
    expect(mergeIsolationRecord(again, later, { incidentId: 'inc-2', actor: 'discord:2' }, 'sg-iso', { enteredStandby: false, snapshots: [] }, '2026-01-04T00:00:00.000Z')).toEqual(again);
  });
});
