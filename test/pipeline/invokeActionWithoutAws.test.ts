/**
 * AWS actions when sentinel has no AWS account (embedded mode: only the local object store as
 * `aws.s3`): invokeAction answers with a `skipped` "AWS not configured" result carrying the plan
 * (the action, its input, what it needs), logged at info without a stack trace, and nothing is
 * written. Refusals still come first: a protected target is refused, not planned.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore, localS3Client, type LocalObjectStore } from '../../src/aws/localObjectStore.js';
import { AwsNotConfiguredError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { loadAllActions } from '../../src/pipeline/actions/registry.js';
import type { ActionDeps } from '../../src/pipeline/actions/types.js';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { testDeps, testSettings } from '../helpers/deps.js';

const ACTIONS = await loadAllActions();
const INSTANCE = 'i-0a1b2c3d4e5f60718';
const NODE = 'ip-10-0-1-23.ap-northeast-2.compute.internal';

let dataDir: string;
let store: LocalObjectStore;
let logs: string[];
let deps: ActionDeps;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sentinel-no-aws-'));
  store = createLocalObjectStore(dataDir);
  logs = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString().split('\n').filter((l) => l.trim()));
      done();
    },
  });
  deps = testDeps({ aws: { s3: localS3Client(store) }, settings: testSettings({ evidenceBucket: 'sentinel-evidence' }), logger: createLogger({ stream: sink, format: 'json', level: 'debug' }) });
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const run = (action: string, input: unknown, dryRun = false) => invokeAction(ACTIONS[action]!, input, { actor: 'stepfunctions:falco-1', incidentId: 'inc-no-aws', ...(dryRun ? { dryRun } : {}) }, deps);

describe('AWS actions without AWS', () => {
  it('deny-egress answers "AWS not configured" with its plan: what it would do, its input, the client and IAM actions it needs', async () => {
    const result = await run('deny-egress', { ip: '203.0.113.7', port: 4444, node: NODE });
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(
      'AWS not configured: deny-egress would deny TCP egress to one IP address with a network ACL rule placed before the first egress allow rule, and record it so unblock-egress removes exactly that rule ' +
        `(ip=203.0.113.7, port=4444, node=${NODE}); needs EC2`,
    );
    expect(result.details).toEqual({
      awsNotConfigured: true,
      dryRun: true,
      plan: {
        action: 'deny-egress',
        input: { ip: '203.0.113.7', port: 4444, node: NODE },
        needs: ['EC2'],
        iam: ACTIONS['deny-egress']!.permissions.iam,
        reason: 'AWS is not configured (no EC2 client): cannot deny egress',
      },
    });
    expect((result.details as { plan: { iam: string[] } }).plan.iam).toContain('ec2:CreateNetworkAclEntry');
    // Nothing was recorded: no block record, no object at all.
    expect(await readdir(join(dataDir, 'objects')).catch(() => [])).not.toContain('sentinel-evidence');

    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.action === 'deny-egress');
    expect(line).toMatchObject({ level: 'info', message: 'action not run: AWS is not configured, its plan is the result', needs: ['EC2'] });
    expect(JSON.stringify(line)).not.toMatch(/stack|at .*\.ts:\d+/);
  });

  it('answers the same way for a dry run (a preflight, observe mode)', async () => {
    const result = await run('isolate-node', { node: NODE }, true);
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(/^AWS not configured: isolate-node would isolate the EC2 instance behind a node: .*\(node=ip-10-0-1-23\..*\); needs EC2$/);
    expect(result.details).toMatchObject({ awsNotConfigured: true, dryRun: true, plan: { action: 'isolate-node', input: { node: NODE }, needs: ['EC2'] } });
  });

  it('still refuses a protected target first: that is a refusal, not a plan', async () => {
    const result = await run('deny-egress', { ip: '10.0.0.5' });
    expect(result.status).toBe('failed');
    expect(result.details).toMatchObject({ final: true });
    expect(result.details).not.toHaveProperty('awsNotConfigured');
  });

  it.each([
    ['unblock-egress', { ip: '203.0.113.7' }, ['EC2']],
    ['release-node', { node: NODE }, ['EC2']],
    ['collect-volatile', { instanceId: INSTANCE }, ['EC2']],
    ['capture-memory', { instanceId: INSTANCE, limeModuleBucket: 'lime-modules', limeModulePrefix: 'lime' }, ['EC2']],
    ['preserve-disk', { instanceId: INSTANCE }, ['EC2']],
    ['collect-disk', { instanceId: INSTANCE, forensicInstanceId: 'i-0f0e0d0c0b0a09080', snapshotIds: ['snap-0a1b2c3d4e5f60718'] }, ['EC2', 'SSM', 'S3']],
    ['pull-cloudtrail', { instanceId: INSTANCE, since: '2026-11-20T03:00:00Z', until: '2026-11-20T04:00:00Z' }, ['CloudTrail']],
  ])('%s answers with its plan (input %j)', async (action, input, needs) => {
    const result = await run(action, input);
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(new RegExp(`^AWS not configured: ${action} would .*; needs ${needs.join(', ')}$`));
    expect(result.details).toMatchObject({ awsNotConfigured: true, dryRun: true, plan: { action, input: expect.objectContaining(input), needs } });
  });

  it('with no S3 client at all, the actions that only store evidence answer with their plan too', async () => {
    const bare = { ...deps, aws: {} };
    const result = await invokeAction(ACTIONS['add-malicious-ip']!, { ip: '203.0.113.7', source: 'falco' }, { actor: 'cli', incidentId: 'inc-no-aws' }, bare);
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ awsNotConfigured: true, plan: { needs: ['S3'] } });
    const recorded = await invokeAction(ACTIONS['record-incident']!, { incidentId: 'inc-1', executionName: 'x-1', startTime: '2026-11-20T03:14:07.123Z', route: 'notify', triage: {} }, { actor: 'cli', incidentId: 'inc-1' }, bare);
    expect(recorded.details).toMatchObject({ awsNotConfigured: true, plan: { needs: ['S3'] } });
  });

  it('AwsNotConfiguredError is a ConfigError with its own code, naming the missing clients', () => {
    const one = new AwsNotConfiguredError('EC2', 'cannot deny egress');
    expect(one.message).toBe('AWS is not configured (no EC2 client): cannot deny egress');
    expect(one.code).toBe('AwsNotConfigured');
    expect(one.details).toEqual({ services: ['EC2'] });
    expect(new AwsNotConfiguredError(['EC2', 'SSM', 'S3'], 'cannot collect from disk').message).toBe('AWS is not configured (EC2, SSM and S3 clients are needed): cannot collect from disk');
  });
});
