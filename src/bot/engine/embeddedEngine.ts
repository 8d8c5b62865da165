import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, describeError, SentinelError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { MAX_RECEIVE_COUNT } from '../../provision/desired.js';
import type { Intake, IntakeHandler } from '../../handlers/ports/intake.js';
import { createFileExclusive, ensureDir } from '../../stores/storeIo.js';
import { ControlQueue } from './controlQueue.js';
import { EmbeddedExecution, embeddedExecutionArn, engineStopped, TaskNotWaitingError, type ExecutionHost } from './embeddedExecution.js';
import { EXECUTION_NAME_PATTERN, ExecutionJournals, type JournalRecord, type JournalRecordOf } from './executionJournal.js';
import { defaultPlaybookDir, embeddedPlaybookFrom, loadEmbeddedPlaybooks } from './loadEmbeddedPlaybooks.js';
import { lockEngineDir } from './lockEngineDir.js';
import type { PlaybookEngine, StartResult } from '../../handlers/ports/playbookEngine.js';
import { PLAYBOOK_FILES, playbookForRoute } from './playbookForRoute.js';
import type { EmbeddedPlaybook } from './prepareEmbeddedPlaybook.js';
import { serializeTaskOutput, TASK_OUTPUT_LIMIT_BYTES } from './serializeTaskOutput.js';
import { TaskGoneError } from './stepFunctionsEngine.js';
import { loadTokenKey, readTaskToken } from './taskTokens.js';

/**
 * The embedded playbook engine: the playbooks of deploy/statemachines run in-process by an ASL
 * interpreter (aws-local-stepfunctions), each Task's SQS message delivered to the bot's own
 * handler, durable across restarts through a journal. See docs/engine.md.
 */

/**
 * The sender id every control message of the embedded engine carries. In embedded mode the bot
 * trusts it as it trusts the state machines' role on SQS (set stateMachineRoleId to it); nothing
 * outside the process can put a message on this queue.
 */
export const EMBEDDED_ENGINE_SENDER_ID = 'sentinel-embedded-engine';

export interface EmbeddedEngineOptions {
  /** The engine's directory (journals, definitions, token key, DLQ): `<SENTINEL_DATA_DIR>/engine`. */
  dir: string;
  logger: Logger;
  /** Where the playbooks are read from; deploy/statemachines by default. */
  playbookDir?: string;
  delivery?: {
    /** Deliveries of one message before it is dead-lettered; the control queue's maxReceiveCount (5) by default. */
    maxReceives?: number;
    /** Wait before a redelivery after the n-th delivery asked for a retry; 1 s doubling up to 60 s by default. */
    backoffMs?: (receiveCount: number) => number;
    /** Messages handled at once; 10 by default (the SQS batch). */
    concurrency?: number;
  };
  /** Replaces every Retry interval of a live attempt (ms). For tests; the definitions' intervals otherwise. */
  retryIntervalOverrideMs?: number;
  /** Ended executions' journals are removed after this many days (Step Functions keeps history 90 days); 90 by default. */
  retentionDays?: number;
}

export interface ExecutionDescription {
  name: string;
  playbook: string;
  executionArn: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  input: Record<string, unknown>;
  startedAt: string;
  endedAt?: string;
  output?: unknown;
  error?: string;
  cause?: string;
}

export interface EmbeddedEngine extends PlaybookEngine {
  /** The control messages, as an Intake (source `control`, sender EMBEDDED_ENGINE_SENDER_ID): `start(handler)` begins delivery. */
  readonly controlIntake: Intake;
  /** Shorthand for `controlIntake.start(handler)`. */
  onMessage(handler: IntakeHandler): void;
  /** What DescribeExecution would say, from memory or the journal; undefined for an unknown name. */
  describeExecution(name: string): Promise<ExecutionDescription | undefined>;
  /** The playbooks loaded, by file name. */
  playbooks(): string[];
  /** Executions in flight in this process. */
  running(): string[];
  /** Stops delivery (waiting for messages in hand) and every execution; all of it resumes at the next start. */
  close(): Promise<void>;
}

function gone(code: TaskNotWaitingError['code'] | 'InvalidToken', what: string): TaskGoneError {
  return new TaskGoneError(`${what}: the task is no longer waiting (${code})`, { code });
}

function defaultBackoffMs(receiveCount: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, receiveCount - 1));
}

/** Messages a journal sent that were neither done nor dead-lettered, with their receive counts. */
function outstandingMessages(records: readonly JournalRecord[]): { sent: JournalRecordOf<'task-sent'>; receiveCount: number }[] {
  const sent = new Map<string, { sent: JournalRecordOf<'task-sent'>; receiveCount: number }>();
  for (const r of records) {
    if (r.type === 'task-sent') sent.set(r.messageId, { sent: r, receiveCount: 0 });
    else if (r.type === 'message-received') {
      const m = sent.get(r.messageId);
      if (m) m.receiveCount = Math.max(m.receiveCount, r.receiveCount);
    } else if (r.type === 'message-acked' || r.type === 'message-dead') sent.delete(r.messageId);
  }
  return [...sent.values()];
}

/**
 * Creates the engine: loads and checks the playbooks, opens (or creates) its directory, resumes
 * every execution a previous process left unfinished (replayed up to its first unfinished task
 * before this resolves) and queues the messages it had not delivered. Delivery starts with
 * `onMessage` / `controlIntake.start`.
 */
export async function createEmbeddedEngine(options: EmbeddedEngineOptions): Promise<EmbeddedEngine> {
  const { dir } = options;
  const playbookDir = options.playbookDir ?? defaultPlaybookDir();
  const playbooks = await loadEmbeddedPlaybooks(playbookDir);
  await ensureDir(dir);
  await ensureDir(join(dir, 'executions'));
  await ensureDir(join(dir, 'definitions'));
  const unlock = await lockEngineDir(dir);
  try {
    return await openEngine(options, playbookDir, playbooks, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function openEngine(options: EmbeddedEngineOptions, playbookDir: string, playbooks: Map<string, EmbeddedPlaybook>, unlock: () => void): Promise<EmbeddedEngine> {
  const { dir, logger } = options;
  const key = await loadTokenKey(dir);
  const journals = new ExecutionJournals(dir);
  const executions = new Map<string, EmbeddedExecution>();
  const starting = new Map<string, Promise<StartResult>>();
  const storedDefinitions = new Set<string>();
  let closed = false;

  const queue = new ControlQueue({
    senderId: EMBEDDED_ENGINE_SENDER_ID,
    maxReceives: options.delivery?.maxReceives ?? MAX_RECEIVE_COUNT,
    backoffMs: options.delivery?.backoffMs ?? defaultBackoffMs,
    concurrency: options.delivery?.concurrency ?? 10,
    dlqPath: join(dir, 'dlq.jsonl'),
    logger,
    record: (name, record) => journals.append(name, [record]),
  });

  const host: ExecutionHost = {
    key,
    logger,
    journals,
    enqueue: (message) => queue.enqueue(message),
    retryIntervalOverrideMs: options.retryIntervalOverrideMs,
    onEnded: (execution) => {
      if (executions.get(execution.name) === execution) executions.delete(execution.name);
    },
  };

  const definitionPath = (sha: string) => join(dir, 'definitions', `${sha}.json`);
  async function storeDefinition(playbook: EmbeddedPlaybook): Promise<void> {
    if (storedDefinitions.has(playbook.sha256)) return;
    await createFileExclusive(definitionPath(playbook.sha256), playbook.text);
    storedDefinitions.add(playbook.sha256);
  }
  async function journalledPlaybook(started: JournalRecordOf<'started'>): Promise<EmbeddedPlaybook> {
    const text = await readFile(definitionPath(started.definitionSha256), 'utf8');
    if (createHash('sha256').update(text).digest('hex') !== started.definitionSha256) throw new Error(`the stored definition ${started.definitionSha256} does not match its hash`);
    return embeddedPlaybookFrom(started.machine, text);
  }

  // Resume what the last process left: undelivered messages first, then the executions.
  const retentionMs = (options.retentionDays ?? 90) * 86_400_000;
  const resumed: EmbeddedExecution[] = [];
  for (const name of await journals.names()) {
    let records: JournalRecord[];
    try {
      records = await journals.read(name);
    } catch (err) {
      logger.error('an execution journal cannot be read; the execution is left as it is', { executionName: name, reason: describeError(err) });
      continue;
    }
    const started = records[0] as JournalRecordOf<'started'>;
    const ended = records.find((r): r is JournalRecordOf<'ended'> => r.type === 'ended');
    const outstanding = outstandingMessages(records);
    if (ended && !outstanding.length && Date.now() - Date.parse(ended.at) > retentionMs) {
      await journals.remove(name);
      continue;
    }
    for (const { sent, receiveCount } of outstanding) {
      queue.enqueue({ messageId: sent.messageId, executionName: name, body: sent.body, sentAt: new Date(sent.sentAt), receiveCount });
    }
    if (ended) continue;
    let playbook: EmbeddedPlaybook;
    try {
      playbook = await journalledPlaybook(started);
    } catch (err) {
      logger.error('an unfinished execution cannot be resumed: its definition is missing or no longer runs', { executionName: name, playbook: started.machine, reason: describeError(err) });
      continue;
    }
    const execution = new EmbeddedExecution(host, playbook, started, records);
    executions.set(name, execution);
    resumed.push(execution);
  }
  for (const execution of resumed) execution.run();
  await Promise.all(resumed.map((e) => e.caughtUp));
  logger.info('embedded playbook engine ready', {
    playbooks: [...playbooks.keys()],
    playbookDir,
    dir,
    resumedExecutions: resumed.length,
    undeliveredMessages: queue.pending(),
  });

  function assertOpen(): void {
    if (closed) throw engineStopped();
  }

  async function executionFor(token: string, what: string): Promise<{ execution: EmbeddedExecution; seq: number }> {
    assertOpen();
    const claims = readTaskToken(key, token);
    if (!claims) throw gone('InvalidToken', what);
    const execution = executions.get(claims.execution);
    if (!execution) throw gone(await goneCodeFromJournal(claims.execution, claims.seq), what);
    return { execution, seq: claims.seq };
  }

  async function goneCodeFromJournal(name: string, seq: number): Promise<TaskNotWaitingError['code']> {
    try {
      const failed = (await journals.read(name)).find((r) => r.type === 'task-failed' && r.seq === seq) as JournalRecordOf<'task-failed'> | undefined;
      return failed && (failed.error === 'States.Timeout' || failed.error === 'States.HeartbeatTimeout') ? 'TaskTimedOut' : 'TaskDoesNotExist';
    } catch {
      return 'TaskDoesNotExist';
    }
  }

  async function onTask(token: string, what: string, act: (execution: EmbeddedExecution, seq: number) => Promise<void>): Promise<void> {
    const { execution, seq } = await executionFor(token, what);
    try {
      await act(execution, seq);
    } catch (err) {
      if (err instanceof TaskNotWaitingError) throw gone(err.code, what);
      if (err instanceof SentinelError) throw err;
      throw new SentinelError(`${what}: ${describeError(err)}`, { cause: err, code: 'EngineJournalError' });
    }
  }

  async function startExecution(route: Parameters<PlaybookEngine['start']>[0], name: string, input: object): Promise<StartResult> {
    const which = playbookForRoute(route);
    if (!which) throw new ConfigError(`no state machine is configured for route ${route}`, { code: 'NoStateMachine' });
    const file = PLAYBOOK_FILES[which];
    const playbook = playbooks.get(file);
    if (!playbook) throw new ConfigError(`no ${file}.asl.json in ${playbookDir} for route ${route}`, { code: 'NoStateMachine' });
    const executionArn = embeddedExecutionArn(file, name);
    let json: string;
    try {
      json = JSON.stringify(input);
    } catch (err) {
      throw new ValidationError(`the input of ${name} is not JSON: ${describeError(err)}`, { code: 'InvalidExecutionInput' });
    }
    if (Buffer.byteLength(json ?? '') > TASK_OUTPUT_LIMIT_BYTES) throw new ValidationError(`the input of ${name} exceeds 256 KiB`, { code: 'InvalidExecutionInput' });
    const parsed: unknown = JSON.parse(json ?? 'null');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ValidationError(`the input of ${name} must be a JSON object`, { code: 'InvalidExecutionInput' });
    await storeDefinition(playbook);
    const started: JournalRecordOf<'started'> = {
      type: 'started',
      v: 1,
      name,
      machine: file,
      definitionSha256: playbook.sha256,
      input: parsed as Record<string, unknown>,
      at: new Date().toISOString(),
    };
    if (!(await journals.create(started))) return { executionArn, started: false };
    assertOpen();
    const execution = new EmbeddedExecution(host, playbook, started);
    executions.set(name, execution);
    logger.info('playbook execution started', { executionName: name, playbook: file, route });
    execution.run();
    return { executionArn, started: true };
  }

  const engine: EmbeddedEngine = {
    controlIntake: queue,
    onMessage(handler) {
      queue.start(handler);
    },
    async start(route, executionName, input) {
      assertOpen();
      if (!EXECUTION_NAME_PATTERN.test(executionName)) {
        throw new ValidationError(`execution name ${JSON.stringify(executionName.slice(0, 100))} is not 1-80 characters of [A-Za-z0-9_-]`, { code: 'InvalidName' });
      }
      const existing = executions.get(executionName);
      if (existing) return { executionArn: existing.arn, started: false };
      const inFlight = starting.get(executionName);
      if (inFlight) {
        const first = await inFlight;
        return { executionArn: first.executionArn, started: false };
      }
      const attempt = startExecution(route, executionName, input);
      starting.set(executionName, attempt);
      try {
        return await attempt;
      } finally {
        starting.delete(executionName);
      }
    },
    async taskSucceeded(taskToken, output) {
      const what = 'cannot resume the playbook';
      const value: unknown = JSON.parse(serializeTaskOutput(output));
      await onTask(taskToken, what, (execution, seq) => execution.succeed(seq, value));
    },
    async taskFailed(taskToken, error, cause) {
      await onTask(taskToken, 'cannot fail the playbook task', (execution, seq) => execution.fail(seq, error.slice(0, 256), cause.slice(0, 32_768)));
    },
    async heartbeat(taskToken) {
      await onTask(taskToken, 'cannot heartbeat the playbook task', (execution, seq) => execution.heartbeat(seq));
    },
    async describeExecution(name) {
      if (!EXECUTION_NAME_PATTERN.test(name)) return undefined;
      let records: JournalRecord[];
      try {
        records = await journals.read(name);
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return undefined;
        throw err;
      }
      const started = records[0] as JournalRecordOf<'started'>;
      const ended = records.find((r): r is JournalRecordOf<'ended'> => r.type === 'ended');
      return {
        name,
        playbook: started.machine,
        executionArn: embeddedExecutionArn(started.machine, name),
        status: ended?.status ?? 'RUNNING',
        input: started.input,
        startedAt: started.at,
        ...(ended ? { endedAt: ended.at } : {}),
        ...(ended && 'output' in ended ? { output: ended.output } : {}),
        ...(ended?.error !== undefined ? { error: ended.error } : {}),
        ...(ended?.cause !== undefined ? { cause: ended.cause } : {}),
      };
    },
    playbooks: () => [...playbooks.keys()],
    running: () => [...executions.keys()],
    async close() {
      if (closed) return;
      closed = true;
      unlock();
      // Executions first (synchronously: nothing more is journalled for them), then delivery.
      for (const execution of executions.values()) execution.stop();
      executions.clear();
      await queue.stop();
    },
  };
  return engine;
}
