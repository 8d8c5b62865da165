/**
 * `sentinel provision` through main(), configured only by environment, against moto.
 */
import { PassThrough, Readable } from 'node:stream';
import { CreateEventBusCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { awsClientOptions, destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { main } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config.js';
import { captureError, createMotoClients, MOTO_ACCOUNT_ID, MOTO_REGION, motoSettings, uniqueName } from '../support/aws.js';

let aws: AwsClients;
let env: Record<string, string>;
/** The state machines' role, created in moto so that provision can read its id. */
let roleId: string;

beforeAll(async () => {
  aws = createMotoClients();
  const bus = uniqueName('cli-bus');
  await aws.eventBridge.send(new CreateEventBusCommand({ Name: bus }));
  const iam = new IAMClient(awsClientOptions(motoSettings()));
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: uniqueName('sfn'),
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  iam.destroy();
  roleId = role.Role!.RoleId!;
  env = {
    SENTINEL_LOG_LEVEL: 'error',
    AWS_REGION: MOTO_REGION,
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    SENTINEL_SFN_ROLE_ARN: role.Role!.Arn!,
    SENTINEL_GUARDDUTY_EVENT_BUS: bus,
  };
});
afterAll(() => destroyAwsClients(aws));

async function sentinel(argv: string[], extraEnv: Record<string, string | undefined> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main({ argv, env: { ...env, ...extraEnv }, stdin: Readable.from([]), stdout, stderr });
  return { code, out, err, lines: out.split('\n') };
}

/** The plan lines: the ones that start with an action. */
const planLines = (lines: string[]) => lines.filter((l) => /^(create|update|unchanged) /.test(l));

describe('sentinel provision', () => {
  it('needs a region and the state machines\' role, and says so', async () => {
    const r = await sentinel(['provision', '--dry-run'], { SENTINEL_SFN_ROLE_ARN: undefined, AWS_REGION: undefined });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/AWS_REGION: expected/);
    expect(r.err).toMatch(/SENTINEL_SFN_ROLE_ARN: expected the IAM role the state machines run as/);
  });

  it('refuses a prefix AWS names cannot take, and unknown options', async () => {
    const bad = await sentinel(['provision', '--dry-run', '--prefix', 'Not_OK']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--prefix "Not_OK": expected lower-case letters/);
    const unknown = await sentinel(['provision', '--force']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--force/);
  });

  it('dry run, run, run again: plans, creates, then reports everything unchanged', async () => {
    const prefix = uniqueName('cli');

    const dry = await sentinel(['provision', '--dry-run', '--prefix', prefix]);
    expect(dry.err).toBe('');
    expect(dry.code).toBe(0);
    const dryPlan = planLines(dry.lines);
    expect(dryPlan.length).toBeGreaterThanOrEqual(10);
    expect(dryPlan.every((l) => l.startsWith('create '))).toBe(true);
    expect(dryPlan).toContainEqual(expect.stringMatching(new RegExp(`^create\\s+sqs queue ${prefix}-intake\\s+does not exist$`)));
    expect(dryPlan).toContainEqual(expect.stringMatching(/eventbridge rule .*-guardduty\s+does not exist \(GuardDuty severity >= 8\)$/));
    expect(dry.out).toMatch(/nothing was changed/);
    expect((await captureError(() => aws.sqs.send(new GetQueueUrlCommand({ QueueName: `${prefix}-intake` })))).name).toBe('QueueDoesNotExist');

    const run = await sentinel(['provision', '--prefix', prefix]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(planLines(run.lines)).toEqual(dryPlan);
    const queueUrl = (await aws.sqs.send(new GetQueueUrlCommand({ QueueName: `${prefix}-intake` }))).QueueUrl!;
    const controlQueueUrl = (await aws.sqs.send(new GetQueueUrlCommand({ QueueName: `${prefix}-control` }))).QueueUrl!;

    // The output ends with settings the bot accepts as they are.
    const tail = run.out.trimEnd().split('\n');
    const start = tail.indexOf("# Settings for the bot's .env:");
    expect(start).toBeGreaterThan(0);
    const settings = Object.fromEntries(
      tail
        .slice(start + 1)
        .filter((l) => !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(settings).toEqual({
      AWS_REGION: MOTO_REGION,
      SENTINEL_QUEUE_URL: queueUrl,
      SENTINEL_CONTROL_QUEUE_URL: controlQueueUrl,
      SENTINEL_SFN_ROLE_ID: roleId,
      SENTINEL_EVIDENCE_BUCKET: `${prefix}-evidence-${MOTO_ACCOUNT_ID}-${MOTO_REGION}`,
      SENTINEL_STATE_MACHINE_FALCO: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:stateMachine:${prefix}-falco-incident`,
      ...(planLines(run.lines).some((l) => l.includes(`${prefix}-ec2-forensics`))
        ? { SENTINEL_STATE_MACHINE_FORENSICS: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:stateMachine:${prefix}-ec2-forensics` }
        : {}),
      ...(planLines(run.lines).some((l) => l.includes(`${prefix}-notify`))
        ? { SENTINEL_STATE_MACHINE_NOTIFY: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:stateMachine:${prefix}-notify` }
        : {}),
      ...(planLines(run.lines).some((l) => l.includes(`${prefix}-pod-containment`))
        ? { SENTINEL_STATE_MACHINE_POD: `arn:aws:states:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:stateMachine:${prefix}-pod-containment` }
        : {}),
    });
    const config = loadConfig({ env: settings, envFile: false });
    expect(config.queueUrl).toBe(queueUrl);
    expect(config.controlQueueUrl).toBe(controlQueueUrl);
    expect(config.bot.stateMachines.falco).toBe(settings.SENTINEL_STATE_MACHINE_FALCO);

    const again = await sentinel(['provision', '--prefix', prefix]);
    expect(again.code).toBe(0);
    const againPlan = planLines(again.lines);
    expect(againPlan).toHaveLength(dryPlan.length);
    expect(againPlan.filter((l) => !l.startsWith('unchanged '))).toEqual([]);
    expect(again.out).toMatch(/nothing to do: all \d+ unchanged/);
  });

  it('takes the prefix from SENTINEL_PROVISION_PREFIX and notes a threshold that differs from the playbook config', async () => {
    const prefix = uniqueName('cfg');
    const r = await sentinel(['provision', '--dry-run'], { SENTINEL_PROVISION_PREFIX: prefix, SENTINEL_GUARDDUTY_MIN_SEVERITY: '7.5' });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`prefix ${prefix}`);
    expect(planLines(r.lines)).toContainEqual(expect.stringMatching(/eventbridge rule .*-guardduty\s+does not exist \(GuardDuty severity >= 7\.5\)$/));
    expect(r.out).toMatch(/note: the rule delivers GuardDuty severity >= 7\.5, the playbook config's guardduty\.severityThreshold is 8/);
  });
});
