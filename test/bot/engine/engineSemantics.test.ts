/**
 * The embedded engine's Step Functions semantics on small state machines of this test (written to
 * a temp dir, loaded the way the playbooks are): TimeoutSeconds, HeartbeatSeconds, Retry with its
 * real intervals, Catch, the context object, task tokens and their errors, the control queue's
 * redelivery and DLQ, and what the engine refuses to run.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedEngine, EMBEDDED_ENGINE_SENDER_ID, type EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { ConfigError, ValidationError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/logger.js';
import { captureError } from '../../support/aws.js';
import { executionName, playbookDirWith, startEngine, tempDir, waitForDelivery, waitForEnd, type Answer } from './engineHarness.js';

const engines: EmbeddedEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const WAIT = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';

/** A Task that sends a `task` message the bot accepts (action record-incident). */
function step(extra: Record<string, unknown> = {}, body: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: WAIT,
    Parameters: {
      QueueUrl: '${ControlQueueUrl}',
      MessageBody: {
        kind: 'task',
        'taskToken.$': '$$.Task.Token',
        action: 'record-incident',
        incidentId: 'inc-1',
        'executionName.$': '$$.Execution.Name',
        'enteredAt.$': '$$.State.EnteredTime',
        input: {},
        ...body,
      },
    },
    ResultPath: '$.result',
    ...extra,
  };
}

const caught = (next = 'Caught') => ({ Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: next }] });
const CAUGHT = { Type: 'Pass', End: true };

async function engineWith(machine: Record<string, unknown>, answers: Record<string, Answer> = {}, options: Parameters<typeof startEngine>[0] | object = {}, input: object = { config: { timeout: 1, heartbeat: 1 } }) {
  const { engine, bot } = await startEngine({ dir: await tempDir(), playbookDir: await playbookDirWith({ 'falco-incident': machine }), ...options }, answers);
  engines.push(engine);
  const name = executionName('sem');
  await engine.start('record', name, input);
  return { engine, bot, name };
}

describe.concurrent('embedded engine: Step Functions semantics', () => {
  it('TimeoutSeconds: a task not answered in time fails with States.Timeout (caught), and its token then answers TaskTimedOut', async () => {
    const { engine, bot, name } = await engineWith(
      { StartAt: 'Step', States: { Step: step({ TimeoutSeconds: 1, Next: 'Done', ...caught() }), Done: { Type: 'Succeed' }, Caught: CAUGHT } },
      { 'record-incident': () => 'no answer' },
    );
    const d = await waitForDelivery(bot, 'record-incident');
    const end = await waitForEnd(engine, name);
    expect(end.status).toBe('SUCCEEDED');
    expect(end.output).toMatchObject({ error: { Error: 'States.Timeout', Cause: expect.stringContaining('1 s') } });
    expect(Date.parse(end.endedAt!) - d.message.sentAt!.getTime()).toBeGreaterThanOrEqual(950);
    await expect(engine.taskSucceeded((d.body as { taskToken: string }).taskToken, {})).rejects.toMatchObject({ name: 'TaskGoneError', code: 'TaskTimedOut' });
  });

  it('TimeoutSecondsPath is read from the state input', async () => {
    const { engine, bot, name } = await engineWith(
      { StartAt: 'Step', States: { Step: step({ TimeoutSecondsPath: '$.config.timeout', Next: 'Done', ...caught() }), Done: { Type: 'Succeed' }, Caught: CAUGHT } },
      { 'record-incident': () => 'no answer' },
    );
    await waitForDelivery(bot, 'record-incident');
    expect((await waitForEnd(engine, name)).output).toMatchObject({ error: { Error: 'States.Timeout' } });
  });

  it('HeartbeatSeconds: without a heartbeat the task fails with States.HeartbeatTimeout, which a States.Timeout catcher takes (as in Step Functions)', async () => {
    const { engine, bot, name } = await engineWith(
      {
        StartAt: 'Step',
        States: {
          Step: step({ TimeoutSeconds: 30, HeartbeatSeconds: 1, Next: 'Done', Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Caught' }] }),
          Done: { Type: 'Succeed' },
          Caught: CAUGHT,
        },
      },
      { 'record-incident': () => 'no answer' },
    );
    const d = await waitForDelivery(bot, 'record-incident');
    const end = await waitForEnd(engine, name);
    expect(end.output).toMatchObject({ error: { Error: 'States.HeartbeatTimeout' } });
    const took = Date.parse(end.endedAt!) - d.message.sentAt!.getTime();
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(10_000);
  });

  it('HeartbeatSeconds: heartbeats keep a long task alive past HeartbeatSeconds until it answers', async () => {
    let self: EmbeddedEngine | undefined;
    const { engine, bot, name } = await engineWith(
      { StartAt: 'Step', States: { Step: step({ TimeoutSeconds: 30, HeartbeatSecondsPath: '$.config.heartbeat', Next: 'Done', ...caught() }), Done: { Type: 'Succeed' }, Caught: CAUGHT } },
      {
        'record-incident': async (d) => {
          const token = (d.body as { taskToken: string }).taskToken;
          // 5 s of work, a heartbeat every 0.25 s, HeartbeatSeconds 3.
          for (let i = 0; i < 20; i++) {
            await new Promise((r) => setTimeout(r, 250));
            await self!.heartbeat(token);
          }
          return { output: { status: 'succeeded', after: '5 s' } };
        },
      },
      {},
      { config: { heartbeat: 3 } },
    );
    self = engine;
    const end = await waitForEnd(engine, name);
    expect(end.output).toMatchObject({ result: { after: '5 s' } });
    expect(end.output).not.toHaveProperty('error');
    expect(bot.of('record-incident')).toHaveLength(1);
  });

  it('Retry: the definition intervals (IntervalSeconds × BackoffRate^n) and $$.State.RetryCount; the entered time stays the state entry', async () => {
    const { engine, bot, name } = await engineWith(
      {
        StartAt: 'Step',
        States: {
          Step: step(
            { Retry: [{ ErrorEquals: ['sentinel.Transient'], IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 2 }], Next: 'Done', ...caught() },
            { input: { 'retryCount.$': '$$.State.RetryCount', 'state.$': '$$.State.Name' } },
          ),
          Done: { Type: 'Succeed' },
          Caught: CAUGHT,
        },
      },
      { 'record-incident': () => ({ error: 'sentinel.Transient', cause: 'try again' }) },
    );
    const end = await waitForEnd(engine, name);
    expect(end.output).toMatchObject({ error: { Error: 'sentinel.Transient', Cause: 'try again' } });
    const attempts = bot.of('record-incident');
    expect(attempts).toHaveLength(3);
    expect(attempts.map((a) => (a.body as { input: unknown }).input)).toEqual([0, 1, 2].map((retryCount) => ({ retryCount, state: 'Step' })));
    const at = attempts.map((a) => a.message.sentAt!.getTime());
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(950);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(1950);
    expect(new Set(attempts.map((a) => (a.body as { enteredAt: string }).enteredAt)).size).toBe(1);
  });

  it('an error no Catch takes fails the execution with that error and cause', async () => {
    const { engine, name } = await engineWith({ StartAt: 'Step', States: { Step: step({ End: true }) } }, { 'record-incident': () => ({ error: 'sentinel.Boom', cause: 'it broke' }) });
    expect(await waitForEnd(engine, name)).toMatchObject({ status: 'FAILED', error: 'sentinel.Boom', cause: 'it broke' });
  });

  it('tokens: garbage and forged tokens answer InvalidToken; an answered task TaskDoesNotExist', async () => {
    const { engine, bot, name } = await engineWith({ StartAt: 'Step', States: { Step: step({ End: true }) } });
    await waitForEnd(engine, name);
    const token = (bot.of('record-incident')[0]!.body as { taskToken: string }).taskToken;
    await expect(engine.taskSucceeded('AAAA', {})).rejects.toMatchObject({ name: 'TaskGoneError', code: 'InvalidToken' });
    await expect(engine.heartbeat(`${token.slice(0, -4)}AAAA`)).rejects.toMatchObject({ name: 'TaskGoneError', code: 'InvalidToken' });
    await expect(engine.taskFailed(token, 'sentinel.X', 'late')).rejects.toMatchObject({ name: 'TaskGoneError', code: 'TaskDoesNotExist' });
    // Another engine (another key) does not accept this engine's tokens.
    const other = await createEmbeddedEngine({ dir: await tempDir(), logger: createSilentLogger(), playbookDir: await playbookDirWith({ 'falco-incident': { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } } }) });
    engines.push(other);
    await expect(other.heartbeat(token)).rejects.toMatchObject({ name: 'TaskGoneError', code: 'InvalidToken' });
  });

  it('delivery: a message the handler asks to retry is redelivered with backoff, then dead-lettered with the reason; the task still times out', async () => {
    const dir = await tempDir();
    const { engine, bot, name } = await engineWith(
      { StartAt: 'Step', States: { Step: step({ TimeoutSeconds: 3, Next: 'Done', ...caught() }), Done: { Type: 'Succeed' }, Caught: CAUGHT } },
      { 'record-incident': (d) => (d.message.receiveCount < 3 ? 'retry' : (() => { throw new Error('handler exploded'); })()) },
      { dir, delivery: { maxReceives: 3, backoffMs: (n: number) => 100 * n } },
    );
    const end = await waitForEnd(engine, name);
    expect(end.output).toMatchObject({ error: { Error: 'States.Timeout' } });
    const deliveries = bot.of('record-incident');
    expect(deliveries.map((d) => d.message.receiveCount)).toEqual([1, 2, 3]);
    expect(deliveries.every((d) => d.message.source === 'control' && d.message.senderId === EMBEDDED_ENGINE_SENDER_ID)).toBe(true);
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(90);
    const dlq = (await readFile(join(dir, 'dlq.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(dlq).toEqual([expect.objectContaining({ executionName: name, messageId: deliveries[0]!.message.id, receiveCount: 3, reason: expect.stringContaining('handler exploded') })]);
  });

  it('start: the same name twice at once starts one execution; a bad name and the ignore route are refused', async () => {
    const { engine } = await startEngine({ dir: await tempDir(), playbookDir: await playbookDirWith({ 'falco-incident': { StartAt: 'Step', States: { Step: step({ End: true }) } } }) });
    engines.push(engine);
    const name = executionName('twice');
    const [a, b] = await Promise.all([engine.start('record', name, { n: 1 }), engine.start('record', name, { n: 1 })]);
    expect([a.started, b.started].sort()).toEqual([false, true]);
    expect(a.executionArn).toBe(b.executionArn);
    expect(await captureError(() => engine.start('record', 'no spaces allowed', {}))).toBeInstanceOf(ValidationError);
    expect(await captureError(() => engine.start('ignore', executionName(), {}))).toMatchObject({ code: 'NoStateMachine' });
    // No notify.asl.json in this directory: the notify route has no playbook.
    expect(await captureError(() => engine.start('notify', executionName(), {}))).toMatchObject({ code: 'NoStateMachine' });
  });
});

describe('embedded engine: journal retention', () => {
  it('an ended execution is described from its journal, and its journal is removed at start-up once older than retentionDays', async () => {
    const dir = await tempDir();
    const playbookDir = await playbookDirWith({ 'falco-incident': { StartAt: 'Step', States: { Step: step({ End: true }) } } });
    const first = await startEngine({ dir, playbookDir });
    const name = executionName('old');
    await first.engine.start('record', name, { n: 1 });
    await waitForEnd(first.engine, name);
    await first.engine.close();
    const journal = join(dir, 'executions', `${name}.jsonl`);
    const lines = (await readFile(journal, 'utf8')).trim().split('\n');
    const ended = lines.findIndex((l) => l.includes('"type":"ended"'));
    lines[ended] = JSON.stringify({ ...(JSON.parse(lines[ended]!) as object), at: new Date(Date.now() - 91 * 86_400_000).toISOString() });
    await writeFile(journal, `${lines.join('\n')}\n`);

    const kept = await createEmbeddedEngine({ dir, playbookDir, logger: createSilentLogger(), retentionDays: 100 });
    expect(await kept.describeExecution(name)).toMatchObject({ status: 'SUCCEEDED', playbook: 'falco-incident', input: { n: 1 } });
    await kept.close();
    const pruned = await createEmbeddedEngine({ dir, playbookDir, logger: createSilentLogger() });
    engines.push(pruned);
    expect(await pruned.describeExecution(name)).toBeUndefined();
  });
});

describe('embedded engine: what it refuses to run', () => {
  const load = async (machine: Record<string, unknown>) =>
    captureError(async () => createEmbeddedEngine({ dir: await tempDir(), logger: createSilentLogger(), playbookDir: await playbookDirWith({ 'falco-incident': machine }) }));

  it.each([
    ['a Lambda task', { StartAt: 'L', States: { L: { Type: 'Task', Resource: 'arn:aws:lambda:ap-northeast-2:123456789012:function:f', End: true } } }, 'state L: Resource'],
    ['a Wait state', { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 5, End: true } } }, 'state W: Wait states'],
    ['States.TaskFailed', { StartAt: 'S', States: { S: step({ End: true, Retry: [{ ErrorEquals: ['States.TaskFailed'] }] }) } }, 'States.TaskFailed'],
    ['$$.Execution.StartTime', { StartAt: 'S', States: { S: step({ End: true }, { 'incidentId.$': '$$.Execution.StartTime' }) } }, '$$.Execution.StartTime'],
    ['States.UUID', { StartAt: 'P', States: { P: { Type: 'Pass', Parameters: { 'id.$': 'States.UUID()' }, End: true } } }, 'States.UUID'],
    ['another queue', { StartAt: 'S', States: { S: { ...step({ End: true }), Parameters: { QueueUrl: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/other', MessageBody: { 'taskToken.$': '$$.Task.Token' } } } } }, 'QueueUrl'],
    ['a waitForTaskToken task without the token', { StartAt: 'S', States: { S: { ...step({ End: true }), Parameters: { QueueUrl: '${ControlQueueUrl}', MessageBody: { kind: 'x' } } } } }, 'must pass $$.Task.Token'],
    ['a Task inside a Map', { StartAt: 'M', States: { M: { Type: 'Map', ItemProcessor: { StartAt: 'S', States: { S: step({ End: true }) } }, End: true } } }, 'a Task inside a Map'],
    ['a state machine TimeoutSeconds', { StartAt: 'P', TimeoutSeconds: 60, States: { P: { Type: 'Pass', End: true } } }, 'TimeoutSeconds'],
  ])('%s: a ConfigError naming the file and state', async (_what, machine, expected) => {
    const err = await load(machine);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('falco-incident.asl.json');
    expect(err.message).toContain(expected);
  });

  it('an invalid state machine is refused by the interpreter validation', async () => {
    const err = await load({ StartAt: 'Nowhere', States: { P: { Type: 'Pass', End: true } } });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('not a valid state machine');
  });
});
