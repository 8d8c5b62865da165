import { createHash } from 'node:crypto';
import { describeError, SentinelError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { StateMachine } from './aslInterpreter.js';
import type { QueuedMessage } from './controlQueue.js';
import type { ExecutionJournals, JournalRecord, JournalRecordOf } from './executionJournal.js';
import { EMBEDDED_QUEUE_URL, MAX_TASK_WAIT_SECONDS, type EmbeddedPlaybook, type EmbeddedTaskSpec, type Retrier, type TaskInvocation } from './prepareEmbeddedPlaybook.js';
import { TASK_OUTPUT_LIMIT_BYTES } from './serializeTaskOutput.js';
import { mintTaskToken } from './taskTokens.js';

/**
 * One execution of a playbook in the embedded engine. The ASL interpreter walks the states; this
 * class is each Task's resource (the SQS send, and for `.waitForTaskToken` the wait for the bot's
 * answer), the context object (`$$.Task.Token`, `$$.State.EnteredTime`, …) and the journal.
 *
 * Replay: after a restart the execution runs again from its journalled input on its journalled
 * definition. The n-th task invocation finds its journalled record: a completed task returns its
 * journalled result (or error) at once without any message, Retry waits already served are
 * skipped, state entered times come from the journal, and tokens are derived from (execution,
 * task number), so the run retraces the same path to the first unfinished task, which waits again
 * (its message redelivered by the control queue when it was not done) with its timeouts counted
 * from its original send time and last heartbeat.
 */

type Sent = JournalRecordOf<'task-sent'>;
type Outcome = JournalRecordOf<'task-succeeded'> | JournalRecordOf<'task-failed'>;
type Ended = JournalRecordOf<'ended'>;
type GoneCode = 'TaskTimedOut' | 'TaskDoesNotExist';

export interface ExecutionHost {
  key: Buffer;
  logger: Logger;
  journals: ExecutionJournals;
  enqueue(message: QueuedMessage): void;
  /** Replaces every live Retry interval (ms); undefined keeps the definition's. */
  retryIntervalOverrideMs: number | undefined;
  onEnded(execution: EmbeddedExecution): void;
}

interface TaskSlot {
  sent?: Sent;
  outcome?: Outcome;
  lastHeartbeat?: number;
}

interface Waiter {
  seq: number;
  sent: Sent;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** The outcome being journalled (set while it is written: the task no longer waits). */
  settling?: Outcome;
  lastBeat: number;
  timeout?: NodeJS.Timeout;
  heartbeat?: NodeJS.Timeout;
}

/** A task's (or the engine's) error as the interpreter sees it: Retry and Catch match `name`; Cause is the message. */
function stateError(name: string, cause: string, final = false): Error {
  const err = new Error(cause);
  err.name = name;
  // The interpreter reads these: a final error is neither retried nor caught (like States.Runtime).
  if (final) Object.assign(err, { isRetryable: false, isCatchable: false });
  return err;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const TIMEOUTS = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/** The interval Step Functions waits before the next attempt, for the retrier that matches `error`. */
function retryDelayMs(retriers: readonly Retrier[], error: string, earlier: readonly string[]): number | undefined {
  const matches = (r: Retrier, e: string) => r.ErrorEquals.includes(e) || r.ErrorEquals.includes('States.ALL');
  const index = retriers.findIndex((r) => matches(r, error));
  const r = retriers[index];
  if (!r) return undefined;
  const served = earlier.filter((e) => retriers.findIndex((x) => matches(x, e)) === index).length;
  const seconds = (r.IntervalSeconds ?? 1) * Math.pow(r.BackoffRate ?? 2, served);
  return Math.min(seconds, r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY) * 1000;
}

function positiveInteger(value: unknown, field: string, path: string | undefined): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  throw stateError('States.Runtime', `${field} ${path ?? ''} resolved to ${JSON.stringify(value)?.slice(0, 60)}, not a positive integer`, true);
}

export class EmbeddedExecution {
  readonly name: string;
  readonly playbook: EmbeddedPlaybook;
  readonly arn: string;
  /** Resolves once a resumed execution has replayed everything its journal holds (at once for a new one). */
  readonly caughtUp: Promise<void>;
  readonly #host: ExecutionHost;
  readonly #log: Logger;
  readonly #started: JournalRecordOf<'started'>;
  readonly #entered = new Map<number, { state: string; at: string }>();
  readonly #tasks = new Map<number, TaskSlot>();
  readonly #waiting = new Map<number, Waiter>();
  readonly #lastJournalledSeq: number;
  #pendingEntered: JournalRecordOf<'entered'>[] = [];
  #transition = -1;
  #state = '';
  #enteredAt = '';
  #attempt = 0;
  #failures: string[] = [];
  #lastFailure: { seq: number; state: string; error: string; at: number; replayed: boolean } | undefined;
  #tasksInvoked = 0;
  #diverged: string | undefined;
  #stopped = false;
  #ended: Ended | undefined;
  #abort: (() => void) | undefined;
  #markCaughtUp!: () => void;

  constructor(host: ExecutionHost, playbook: EmbeddedPlaybook, started: JournalRecordOf<'started'>, records: readonly JournalRecord[] = []) {
    this.#host = host;
    this.playbook = playbook;
    this.#started = started;
    this.name = started.name;
    this.arn = embeddedExecutionArn(playbook.name, started.name);
    this.#log = host.logger.child({ executionName: this.name, playbook: playbook.name });
    let last = -1;
    for (const r of records) {
      if (r.type === 'entered') this.#entered.set(r.transition, { state: r.state, at: r.at });
      else if (r.type === 'task-sent') this.#slot(r.seq).sent = r;
      else if (r.type === 'task-succeeded' || r.type === 'task-failed') this.#slot(r.seq).outcome = r;
      else if (r.type === 'task-heartbeat') this.#slot(r.seq).lastHeartbeat = Date.parse(r.at);
      if ('seq' in r) last = Math.max(last, r.seq);
    }
    this.#lastJournalledSeq = last;
    this.caughtUp = new Promise((resolve) => (this.#markCaughtUp = resolve));
    if (last < 0) this.#markCaughtUp();
  }

  get status(): 'RUNNING' | 'SUCCEEDED' | 'FAILED' {
    return this.#ended?.status ?? 'RUNNING';
  }

  #slot(seq: number): TaskSlot {
    let slot = this.#tasks.get(seq);
    if (!slot) this.#tasks.set(seq, (slot = {}));
    return slot;
  }

  /** Runs (or, from a journal, resumes) the execution in the interpreter. */
  run(): void {
    const states = new Proxy(this.playbook.runnable.States, {
      // The interpreter looks up each state as it enters it: the hook for $$.State.* and the transition count.
      get: (target, prop, receiver) => {
        if (typeof prop === 'string' && Object.hasOwn(target, prop)) this.#enter(prop);
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const self = this;
    const context = {
      Execution: { Id: this.arn, Name: this.name },
      StateMachine: { Id: embeddedStateMachineArn(this.playbook.name), Name: this.playbook.name },
      State: {
        get Name() {
          return self.#state;
        },
        get EnteredTime() {
          return self.#enteredAt;
        },
        get RetryCount() {
          return self.#attempt;
        },
      },
      Task: {
        get Token() {
          return mintTaskToken(self.#host.key, { execution: self.name, seq: self.#tasksInvoked, state: self.#state });
        },
      },
    };
    const handlers = Object.fromEntries([...this.playbook.tasks.keys()].map((state) => [state, (input: unknown) => this.#invoke(state, input)]));
    const retryIntervals = new Proxy({}, { get: (_t, prop) => (typeof prop === 'string' ? this.#retryIntervalMs(prop) : undefined) });
    try {
      const machine = new StateMachine({ ...this.playbook.runnable, States: states } as never, { validationOptions: { noValidate: true } });
      const execution = machine.run(structuredClone(this.#started.input) as never, {
        overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides: retryIntervals },
        context,
        noThrowOnAbort: true,
      });
      this.#abort = execution.abort;
      execution.result.then(
        (output) => this.#end({ status: 'SUCCEEDED', output }),
        (err: unknown) => {
          const cause = (err as { cause?: unknown }).cause;
          const e = cause instanceof Error ? cause : err instanceof Error ? err : new Error(String(err));
          return this.#end({ status: 'FAILED', error: e.name || 'Error', cause: e.message });
        },
      );
    } catch (err) {
      void this.#end({ status: 'FAILED', error: 'States.Runtime', cause: `the interpreter could not run the playbook: ${describeError(err)}` });
    }
  }

  #enter(state: string): void {
    this.#transition++;
    this.#state = state;
    this.#attempt = 0;
    this.#failures = [];
    const journalled = this.#entered.get(this.#transition);
    if (journalled) {
      if (journalled.state !== state && !this.#diverged) this.#diverged = `transition ${this.#transition} entered ${journalled.state} before the restart and ${state} on replay`;
      this.#enteredAt = journalled.at;
    } else {
      this.#enteredAt = new Date().toISOString();
      this.#pendingEntered.push({ type: 'entered', transition: this.#transition, state, at: this.#enteredAt });
    }
  }

  #retryIntervalMs(state: string): number | undefined {
    const f = this.#lastFailure;
    const override = this.#host.retryIntervalOverrideMs;
    if (!f || f.state !== state || !f.replayed) return override;
    // Replaying: a wait already served before the crash is skipped; one cut short by it serves what is left.
    if (f.seq < this.#lastJournalledSeq) return 0;
    const full = override ?? retryDelayMs(this.playbook.tasks.get(state)?.retry ?? [], f.error, this.#failures.slice(0, -1));
    return full === undefined ? undefined : Math.max(0, f.at + full - Date.now());
  }

  /** Journals records, preceded by the state entries not yet written (they matter only once something follows them). */
  async #journal(records: JournalRecord[]): Promise<void> {
    const entered = this.#pendingEntered;
    this.#pendingEntered = [];
    try {
      await this.#host.journals.append(this.name, [...entered, ...records]);
    } catch (err) {
      this.#pendingEntered = [...entered, ...this.#pendingEntered];
      throw err;
    }
  }

  /** Journals what the execution itself must record: retried (a full disk may clear) until it works or the engine stops. */
  async #journalDurably(records: JournalRecord[]): Promise<void> {
    for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
      if (this.#stopped) throw engineStopped();
      try {
        await this.#journal(records);
        return;
      } catch (err) {
        this.#log.error('cannot write the execution journal; the execution waits until it can', { reason: describeError(err), retryInMs: wait });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  #caughtUpTo(seq: number): void {
    if (seq >= this.#lastJournalledSeq) this.#markCaughtUp();
  }

  /** The Task resource: send the message (or find it in the journal), then wait for the answer where the state says so. */
  async #invoke(state: string, input: unknown): Promise<unknown> {
    if (this.#stopped) throw engineStopped();
    const spec = this.playbook.tasks.get(state)!;
    const seq = this.#tasksInvoked++;
    const attempt = this.#attempt++;
    const slot = this.#slot(seq);
    if (slot.sent && (slot.sent.state !== state || slot.sent.transition !== this.#transition || slot.sent.attempt !== attempt)) {
      this.#diverged ??= `task ${seq} was ${slot.sent.state} (transition ${slot.sent.transition}) before the restart and ${state} (transition ${this.#transition}) on replay`;
    }
    if (this.#diverged) {
      this.#log.error('the execution cannot be replayed: it took another path than before the restart', { reason: this.#diverged });
      this.#markCaughtUp();
      throw stateError('sentinel.ReplayDiverged', this.#diverged, true);
    }
    const sent = slot.sent ?? (await this.#send(spec, seq, attempt, input));
    if (this.#stopped) throw engineStopped();
    const outcome = slot.outcome;
    if (outcome) {
      this.#caughtUpTo(seq);
      if (outcome.type === 'task-succeeded') return outcome.output;
      this.#noteFailure(seq, state, outcome, true);
      throw stateError(outcome.error, outcome.cause);
    }
    if (!spec.waitForTaskToken) {
      this.#caughtUpTo(seq);
      return { MessageId: sent.messageId, MD5OfMessageBody: createHash('md5').update(sent.body).digest('hex') };
    }
    const waiting = this.#wait(seq, sent, slot.lastHeartbeat);
    this.#caughtUpTo(seq);
    return waiting;
  }

  #noteFailure(seq: number, state: string, outcome: JournalRecordOf<'task-failed'>, replayed: boolean): void {
    this.#failures.push(outcome.error);
    this.#lastFailure = { seq, state, error: outcome.error, at: Date.parse(outcome.at), replayed };
  }

  async #send(spec: EmbeddedTaskSpec, seq: number, attempt: number, input: unknown): Promise<Sent> {
    const invocation = (isObject(input) ? input : {}) as unknown as TaskInvocation;
    const sqs = invocation.sqs;
    if (!isObject(sqs) || sqs.QueueUrl !== EMBEDDED_QUEUE_URL) throw stateError('States.Runtime', `${spec.state}: the message is not for the control queue`, true);
    const body = typeof sqs.MessageBody === 'string' ? sqs.MessageBody : JSON.stringify(sqs.MessageBody ?? null);
    if (Buffer.byteLength(body) > TASK_OUTPUT_LIMIT_BYTES) {
      throw stateError('SQS.InvalidParameterValueException', `${spec.state}: the message body is ${Buffer.byteLength(body)} bytes; SQS takes at most 256 KiB`);
    }
    const timeoutSeconds = spec.timeoutSeconds ?? (spec.timeoutSecondsPath ? positiveInteger(invocation.timeoutSeconds, 'TimeoutSecondsPath', spec.timeoutSecondsPath) : undefined);
    const heartbeatSeconds = spec.heartbeatSeconds ?? (spec.heartbeatSecondsPath ? positiveInteger(invocation.heartbeatSeconds, 'HeartbeatSecondsPath', spec.heartbeatSecondsPath) : undefined);
    const record: Sent = {
      type: 'task-sent',
      seq,
      transition: this.#transition,
      state: spec.state,
      attempt,
      messageId: `${this.name}.${seq}`,
      body,
      waitForTaskToken: spec.waitForTaskToken,
      sentAt: new Date().toISOString(),
      ...(spec.waitForTaskToken && timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
      ...(spec.waitForTaskToken && heartbeatSeconds !== undefined ? { heartbeatSeconds } : {}),
    };
    await this.#journalDurably([record]);
    this.#slot(seq).sent = record;
    this.#host.enqueue({ messageId: record.messageId, executionName: this.name, body, sentAt: new Date(record.sentAt), receiveCount: 0 });
    return record;
  }

  #wait(seq: number, sent: Sent, lastHeartbeat: number | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#stopped) return reject(engineStopped());
      const w: Waiter = { seq, sent, resolve, reject, lastBeat: Math.max(lastHeartbeat ?? 0, Date.parse(sent.sentAt)) };
      this.#waiting.set(seq, w);
      const limit = sent.timeoutSeconds;
      const cap = Date.now() + MAX_TASK_WAIT_SECONDS * 1000;
      const deadline = limit === undefined ? cap : Math.min(Date.parse(sent.sentAt) + limit * 1000, cap);
      const cause =
        limit !== undefined && deadline < cap
          ? `${sent.state}: no answer within its timeout of ${limit} s`
          : `${sent.state}: no answer within ${MAX_TASK_WAIT_SECONDS} s, the longest the embedded engine waits in one run`;
      w.timeout = setTimeout(() => void this.#expire(w, 'States.Timeout', cause), Math.max(0, deadline - Date.now()));
      this.#armHeartbeat(w);
    });
  }

  #armHeartbeat(w: Waiter): void {
    const seconds = w.sent.heartbeatSeconds;
    if (seconds === undefined) return;
    if (w.heartbeat) clearTimeout(w.heartbeat);
    const due = w.lastBeat + seconds * 1000;
    w.heartbeat = setTimeout(() => void this.#expire(w, 'States.HeartbeatTimeout', `${w.sent.state}: no heartbeat within ${seconds} s`), Math.max(0, due - Date.now()));
  }

  #clearTimers(w: Waiter): void {
    if (w.timeout) clearTimeout(w.timeout);
    if (w.heartbeat) clearTimeout(w.heartbeat);
  }

  async #expire(w: Waiter, error: string, cause: string): Promise<void> {
    if (this.#stopped || w.settling || this.#waiting.get(w.seq) !== w) return;
    try {
      await this.#settle(w, { type: 'task-failed', seq: w.seq, error, cause, at: new Date().toISOString() });
      this.#log.warn('a playbook step timed out', { state: w.sent.state, error });
    } catch (err) {
      if (err instanceof TaskNotWaitingError || this.#stopped) return;
      this.#log.error('cannot journal a step timeout; trying again', { state: w.sent.state, reason: describeError(err) });
      w.timeout = setTimeout(() => void this.#expire(w, error, cause), 1000);
    }
  }

  async #settle(w: Waiter, outcome: Outcome): Promise<void> {
    if (w.settling || this.#waiting.get(w.seq) !== w) throw new TaskNotWaitingError(this.#goneCodeOf(w.seq));
    w.settling = outcome;
    try {
      await this.#journal([outcome]);
    } catch (err) {
      w.settling = undefined;
      throw err;
    }
    this.#waiting.delete(w.seq);
    this.#clearTimers(w);
    this.#slot(w.seq).outcome = outcome;
    if (outcome.type === 'task-succeeded') {
      w.resolve(outcome.output);
    } else {
      this.#noteFailure(w.seq, w.sent.state, outcome, false);
      w.reject(stateError(outcome.error, outcome.cause));
    }
  }

  #goneCodeOf(seq: number): GoneCode {
    const outcome = this.#waiting.get(seq)?.settling ?? this.#tasks.get(seq)?.outcome;
    return outcome?.type === 'task-failed' && TIMEOUTS.has(outcome.error) ? 'TaskTimedOut' : 'TaskDoesNotExist';
  }

  async #waiter(seq: number): Promise<Waiter> {
    await this.caughtUp;
    if (this.#stopped) throw engineStopped();
    const w = this.#waiting.get(seq);
    if (!w || w.settling) throw new TaskNotWaitingError(this.#goneCodeOf(seq));
    return w;
  }

  /** Resumes the waiting task `seq` with its output (already serialized within 256 KiB and parsed back). */
  async succeed(seq: number, output: unknown): Promise<void> {
    const w = await this.#waiter(seq);
    await this.#settle(w, { type: 'task-succeeded', seq, output, at: new Date().toISOString() });
  }

  async fail(seq: number, error: string, cause: string): Promise<void> {
    const w = await this.#waiter(seq);
    await this.#settle(w, { type: 'task-failed', seq, error, cause, at: new Date().toISOString() });
  }

  /** Proves the task waits; for a task with HeartbeatSeconds, journals the beat and restarts its heartbeat clock. */
  async heartbeat(seq: number): Promise<void> {
    const w = await this.#waiter(seq);
    if (w.sent.heartbeatSeconds === undefined) return;
    const at = new Date();
    await this.#journal([{ type: 'task-heartbeat', seq, at: at.toISOString() }]);
    if (w.settling || this.#waiting.get(seq) !== w) throw new TaskNotWaitingError(this.#goneCodeOf(seq));
    w.lastBeat = at.getTime();
    this.#armHeartbeat(w);
  }

  async #end(end: { status: 'SUCCEEDED'; output: unknown } | { status: 'FAILED'; error: string; cause: string }): Promise<void> {
    this.#markCaughtUp();
    if (this.#stopped) return;
    const record: Ended = { type: 'ended', ...end, at: new Date().toISOString() };
    try {
      await this.#journalDurably([record]);
    } catch {
      return;
    }
    this.#ended = record;
    if (end.status === 'SUCCEEDED') this.#log.info('playbook execution succeeded');
    else this.#log.error('playbook execution failed', { error: end.error, cause: end.cause.slice(0, 500) });
    this.#host.onEnded(this);
  }

  /** Stops this run: timers cleared, waiting tasks released; nothing more is journalled (a restart resumes it). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort?.();
    for (const w of this.#waiting.values()) {
      this.#clearTimers(w);
      w.reject(engineStopped());
    }
    this.#waiting.clear();
    this.#markCaughtUp();
  }
}

/** The task is not waiting (any more): the engine turns this into TaskGoneError with its code. */
export class TaskNotWaitingError extends Error {
  readonly code: GoneCode;
  constructor(code: GoneCode) {
    super(`the task is no longer waiting (${code})`);
    this.code = code;
  }
}

/** The engine is stopping: nothing is lost, the execution resumes from its journal at the next start. */
export function engineStopped(): Error {
  const err = new SentinelError('the embedded playbook engine is stopped; the execution resumes from its journal when it starts again', { code: 'EngineStopped' });
  return Object.assign(err, { isRetryable: false, isCatchable: false });
}

export function embeddedStateMachineArn(playbook: string): string {
  return `sentinel:embedded:stateMachine:${playbook}`;
}

export function embeddedExecutionArn(playbook: string, name: string): string {
  return `sentinel:embedded:execution:${playbook}:${name}`;
}
