/**
 * collect-disk's planning without AWS: the forensic instance and snapshot checks, which temporary
 * volumes are reused or removed, device names, and reading the script's output and the cleanup.
 */
import type { Instance, Snapshot, Volume } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import {
  checkForensicInstance,
  checkSnapshots,
  cleanupComplete,
  cleanupSummary,
  deviceLetter,
  diskBundleKey,
  planVolumes,
  readResultLine,
  readVolumeLines,
  sortTemporaryVolumes,
  usedDeviceLetters,
  type CleanupReport,
} from '../../../src/pipeline/planning/planDiskCollection.js';

const settings = loadConfig({ env: {}, envFile: false }).pipeline;
const FORENSIC = 'i-0f0f0f0f0f0f0f0f0';
const SOURCE = 'i-0123456789abcdef0';
const AZ = 'eu-west-1a';

const forensic = (over: Partial<Instance> = {}): Instance => ({
  InstanceId: FORENSIC,
  State: { Name: 'running' },
  Placement: { AvailabilityZone: AZ },
  Tags: [{ Key: 'sentinel:forensic', Value: 'true' }],
  RootDeviceName: '/dev/xvda',
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }, { DeviceName: '/dev/sdf' }],
  ...over,
});

const volume = (id: string, snap: string, over: Partial<Volume> = {}): Volume => ({
  VolumeId: id,
  State: 'available',
  AvailabilityZone: AZ,
  Tags: [{ Key: 'sentinel:snapshot', Value: snap }],
  Attachments: [],
  ...over,
});

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('the forensic instance', () => {
  it('must exist, be unprotected, tagged sentinel:forensic=true and running; gives its zone', () => {
    expect(checkForensicInstance(forensic(), FORENSIC, settings).availabilityZone).toBe(AZ);
    expect(codeOf(() => checkForensicInstance(undefined, FORENSIC, settings))).toBe('ForensicInstanceNotFound');
    expect(codeOf(() => checkForensicInstance(forensic({ Tags: [] }), FORENSIC, settings))).toBe('NotForensicInstance');
    expect(codeOf(() => checkForensicInstance(forensic({ State: { Name: 'stopped' } }), FORENSIC, settings))).toBe('ForensicInstanceNotRunning');
    expect(() => checkForensicInstance(forensic({ Tags: [{ Key: 'sentinel:forensic', Value: 'true' }, { Key: settings.protectedTag, Value: 'yes' }] }), FORENSIC, settings)).toThrow(/is protected/);
  });
});

describe('the snapshots', () => {
  const snap = (id: string, over: Partial<Snapshot> = {}): Snapshot => ({ SnapshotId: id, State: 'completed', Tags: [{ Key: 'sentinel:instance', Value: SOURCE }], ...over });
  it('must all exist, be completed and be of the compromised instance', () => {
    expect(() => checkSnapshots([snap('snap-1'), snap('snap-2')], ['snap-1', 'snap-2'], SOURCE)).not.toThrow();
    expect(codeOf(() => checkSnapshots([snap('snap-1')], ['snap-1', 'snap-2'], SOURCE))).toBe('SnapshotNotFound');
    expect(codeOf(() => checkSnapshots([snap('snap-1', { State: 'pending', Progress: '40%' })], ['snap-1'], SOURCE))).toBe('SnapshotPending');
    expect(codeOf(() => checkSnapshots([snap('snap-1', { State: 'error' })], ['snap-1'], SOURCE))).toBe('SnapshotFailed');
    expect(codeOf(() => checkSnapshots([snap('snap-1', { Tags: [{ Key: 'sentinel:instance', Value: 'i-0999999999999999f' }] })], ['snap-1'], SOURCE))).toBe('SnapshotOfOtherInstance');
  });
});

describe('temporary volumes of the incident', () => {
  it('reuses one per snapshot, preferring one on the forensic instance, and removes the rest', () => {
    const attached = volume('vol-a', 'snap-1', { State: 'in-use', Attachments: [{ InstanceId: FORENSIC, State: 'attached', Device: '/dev/sdg' }] });
    const free = volume('vol-b', 'snap-1');
    const otherZone = volume('vol-c', 'snap-2', { AvailabilityZone: 'eu-west-1b' });
    const failed = volume('vol-d', 'snap-2', { State: 'error' });
    const elsewhere = volume('vol-e', 'snap-2', { State: 'in-use', Attachments: [{ InstanceId: 'i-0aaaaaaaaaaaaaaaa', State: 'attached' }] });
    const deleting = volume('vol-f', 'snap-2', { State: 'deleting' });
    const { reusable, extra } = sortTemporaryVolumes([free, otherZone, attached, failed, elsewhere, deleting], FORENSIC, AZ);
    expect([...reusable].map(([s, v]) => [s, v.VolumeId])).toEqual([['snap-1', 'vol-a']]);
    expect(extra.map((v) => v.VolumeId).sort()).toEqual(['vol-b', 'vol-c', 'vol-d', 'vol-e']);
  });
});

describe('device names', () => {
  it('skips the letters the forensic instance uses (sd and xvd are one slot)', () => {
    expect(deviceLetter('/dev/xvdf')).toBe('f');
    expect(deviceLetter('/dev/sdg1')).toBe('g');
    expect(deviceLetter('/dev/nvme0n1')).toBeUndefined();
    expect([...usedDeviceLetters(forensic())].sort()).toEqual(['a', 'f']);
  });

  it('gives each snapshot a free name, keeps a reused volume at its own, and stops when they run out', () => {
    const reused = volume('vol-a', 'snap-2', { Attachments: [{ InstanceId: FORENSIC, State: 'attached', Device: '/dev/sdg' }] });
    const plan = planVolumes({ snapshotIds: ['snap-1', 'snap-2', 'snap-3'], forensicInstanceId: FORENSIC }, { reusable: new Map([['snap-2', reused]]), usedLetters: new Set(['a', 'f']) }, '/mnt/sentinel/inc');
    expect(plan.map((v) => [v.snapshotId, v.volumeId, v.device, v.reused, v.attached, v.mountPoint])).toEqual([
      ['snap-1', undefined, '/dev/sdh', false, false, '/mnt/sentinel/inc/1'],
      ['snap-2', 'vol-a', '/dev/sdg', true, true, '/mnt/sentinel/inc/2'],
      ['snap-3', undefined, '/dev/sdi', false, false, '/mnt/sentinel/inc/3'],
    ]);
    const allUsed = new Set('fghijklmnop'.split(''));
    expect(codeOf(() => planVolumes({ snapshotIds: ['snap-1'], forensicInstanceId: FORENSIC }, { reusable: new Map(), usedLetters: allUsed }, '/mnt'))).toBe('NoFreeDevice');
  });

  it('moves a reused volume attached at a name outside the list to a free one', () => {
    const odd = volume('vol-a', 'snap-1', { Attachments: [{ InstanceId: FORENSIC, State: 'attached', Device: '/dev/sdz' }] });
    const [v] = planVolumes({ snapshotIds: ['snap-1'], forensicInstanceId: FORENSIC }, { reusable: new Map([['snap-1', odd]]), usedLetters: new Set() }, '/mnt');
    expect([v!.device, v!.reused, v!.attached]).toEqual(['/dev/sdf', true, false]);
  });
});

describe("the script's output", () => {
  const key = diskBundleKey('inc-1', SOURCE, ['snap-1']);
  it('reads the bundle it stored at the expected key, and nothing else', () => {
    const sha = 'a'.repeat(64);
    expect(readResultLine(`noise\nSENTINEL-RESULT sha256=${sha} size=1234 key=${key}\n`, key)).toEqual({ sha256: sha, size: 1234 });
    expect(readResultLine(`SENTINEL-RESULT sha256=${sha} size=1234 key=evidence/other.tar.gz\n`, key)).toBeUndefined();
    expect(readResultLine('no result\n', key)).toBeUndefined();
  });

  it('puts each volume line on its planned volume', () => {
    const plan = planVolumes({ snapshotIds: ['snap-1', 'snap-2'], forensicInstanceId: FORENSIC }, { reusable: new Map(), usedLetters: new Set() }, '/mnt');
    plan[0]!.volumeId = 'vol-0aaa';
    plan[1]!.volumeId = 'vol-0bbb';
    readVolumeLines('SENTINEL-VOLUME n=1 volume=vol-0aaa device=/dev/nvme1n1p1 fstype=ext4 status=collected\nSENTINEL-VOLUME n=2 volume=vol-0ccc status=collected\nSENTINEL-VOLUME n=2 volume=vol-0bbb status=no-filesystem\n', plan);
    expect(plan.map((v) => [v.status, v.partition, v.fstype])).toEqual([
      ['collected', '/dev/nvme1n1p1', 'ext4'],
      ['no-filesystem', undefined, undefined],
    ]);
  });
});

describe('the cleanup', () => {
  const ok: CleanupReport = { volumeId: 'vol-1', snapshotId: 'snap-1', detach: 'detached', delete: 'deleted' };
  it('is complete only when every volume is gone, and names the ones to remove by hand', () => {
    expect(cleanupSummary([])).toBe('no temporary volume to clean up');
    expect([cleanupComplete([ok]), cleanupSummary([ok])]).toEqual([true, '1 temporary volume(s) detached and deleted']);
    const stuck: CleanupReport = { volumeId: 'vol-2', snapshotId: 'snap-2', detach: 'failed', delete: 'failed', error: 'attached to i-x' };
    expect(cleanupComplete([ok, stuck])).toBe(false);
    expect(cleanupSummary([ok, stuck])).toBe('CLEANUP FAILED for vol-2 (attached to i-x): detach and delete it by hand');
  });
});
