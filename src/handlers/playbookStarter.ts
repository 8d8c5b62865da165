import { ConfigError, describeError, NotFoundError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Route } from '../pipeline/triage/types.js';
import type { AuditLog } from '../stores/auditLog.js';
import type { IncidentStore } from '../stores/incidentStore.js';
import type { FilePendingStartStore, PendingStart } from '../stores/pendingStartStore.js';
import type { DiscordOutbox } from './ports/outbox.js';
import type { PlaybookEngine } from './ports/playbookEngine.js';

/** Playbook starts taken off the intake's path: recorded durably, made by a small pool of workers. */
export interface PlaybookStarts {
  /** Records the start durably (once per incident) and returns; a worker makes it. */
  request(start: Omit<PendingStart, 'requestedAt'>): Promise<void>;
  /** Whether the incident's start is recorded and not made yet. */
  isPending(incidentId: string): boolean;
  /** Loads the starts a previous run left and makes them too. Returns how many it found. */
  start(): Promise<number>;
  /** Stops making starts (waiting briefly for those under way); the rest stay recorded for the next run. */
  stop(): Promise<void>;
  /** Starts recorded and not made yet. */
  backlog(): number;
  /** Resolves once every start requested so far is made (or failed for good). */
  idle(): Promise<void>;
}

export interface PlaybookStarterDeps {
  store: FilePendingStartStore;
  engine: PlaybookEngine;
  incidents: IncidentStore;
  audit: AuditLog;
  outbox: Pick<DiscordOutbox, 'touchIncident'>;
  logger: Logger;
  /** Starts made at once (default 8). */
  concurrency?: number;
  /** The first retry's delay; doubled up to 60 s (default 1 s). */
  retryMs?: number;
  /** How long `stop` waits for the starts under way (default 500 ms). */
  stopGraceMs?: number;
}

/** Step Functions' answers that no retry changes: the start fails for good. */
const FINAL_CODES = new Set(['ValidationException', 'InvalidExecutionInput', 'InvalidName', 'InvalidArn', 'StateMachineDoesNotExist', 'StateMachineDeleting', 'StateMachineTypeNotSupported', 'NoStateMachine']);

function isFinal(err: unknown): boolean {
  if (err instanceof UserError || err instanceof ConfigError) return true;
  return FINAL_CODES.has((err as { code?: string })?.code ?? '');
}

const MAX_RETRY_MS = 60_000;

/**
 * The starter: each recorded start is made (StartExecution, idempotent by the execution's name),
 * then the incident is given its execution and the record deleted. A start that fails in a way a
 * retry may fix (throttling, the network, a 5xx) is retried with a doubling delay, as long as it
 * takes: the record stays, nothing is lost. One that fails for good (no state machine for the
 * route, input Step Functions refuses) marks the incident failed, is audited and shown (the
 * incident's message re-renders as failed), and its record is deleted.
 */
export function createPlaybookStarter(deps: PlaybookStarterDeps): PlaybookStarts {
  const concurrency = Math.max(1, deps.concurrency ?? 8);
  const firstRetryMs = deps.retryMs ?? 1000;
  const log = deps.logger;
  /** Recorded and not made, by incident id, in the order they are to be made. */
  const pending = new Map<string, PendingStart>();
  const queue: string[] = [];
  const underWay = new Set<Promise<void>>();
  const retries = new Map<string, NodeJS.Timeout>();
  const attempts = new Map<string, number>();
  /** Requests are made as they come; `stop` ends that (what is left stays recorded). */
  let running = true;

  function pump(): void {
    while (running && underWay.size < concurrency && queue.length > 0) {
      const incidentId = queue.shift()!;
      const start = pending.get(incidentId);
      if (!start) continue;
      const work = makeStart(start).finally(() => {
        underWay.delete(work);
        pump();
      });
      underWay.add(work);
    }
  }

  async function makeStart(s: PendingStart): Promise<void> {
    const slog = log.child({ incidentId: s.incidentId, executionName: s.executionName });
    try {
      const started = await deps.engine.start(s.route as Route, s.executionName, s.input);
      await deps.incidents.setExecution(s.incidentId, s.executionName);
      slog.info(started.started ? 'playbook started' : 'playbook already running', { route: s.route });
      await finish(s.incidentId);
    } catch (err) {
      if (isFinal(err)) return failForGood(s, err, slog);
      const attempt = (attempts.get(s.incidentId) ?? 0) + 1;
      attempts.set(s.incidentId, attempt);
      const delayMs = Math.min(MAX_RETRY_MS, firstRetryMs * 2 ** (attempt - 1));
      const meta = { route: s.route, attempt, retryInMs: delayMs, reason: describeError(err) };
      if (attempt >= 5) slog.error('starting the playbook failed; will retry', meta);
      else slog.warn('starting the playbook failed; will retry', meta);
      if (!running) return; // stays recorded: the next run makes it
      const timer = setTimeout(() => {
        retries.delete(s.incidentId);
        queue.push(s.incidentId);
        pump();
      }, delayMs);
      timer.unref();
      retries.set(s.incidentId, timer);
    }
  }

  async function finish(incidentId: string): Promise<void> {
    await deps.store.delete(incidentId);
    pending.delete(incidentId);
    attempts.delete(incidentId);
  }

  async function failForGood(s: PendingStart, err: unknown, slog: Logger): Promise<void> {
    const reason = describeError(err);
    slog.error('the playbook cannot be started; the incident is marked failed', { route: s.route, reason });
    try {
      // An incident that is gone (its store was cleared) has nothing to mark: the record still goes.
      await deps.incidents.setStatus(s.incidentId, 'failed').catch((e: unknown) => {
        if (!(e instanceof NotFoundError)) throw e;
      });
      deps.outbox.touchIncident(s.incidentId);
      await deps.audit.append({ at: new Date(), who: 'sentinel', what: 'playbook-start-failed', incidentId: s.incidentId, outcome: 'failed', detail: { route: s.route, executionName: s.executionName, reason } });
      await finish(s.incidentId);
    } catch (inner) {
      // The record stays: the next run tries again.
      slog.error('recording a failed playbook start failed; it stays recorded for the next run', { reason: describeError(inner) });
    }
  }

  return {
    async request(start) {
      if (pending.has(start.incidentId)) return;
      const record: PendingStart = { ...start, requestedAt: new Date().toISOString() };
      await deps.store.put(record);
      if (pending.has(start.incidentId)) return;
      pending.set(start.incidentId, record);
      queue.push(start.incidentId);
      pump();
    },
    isPending(incidentId) {
      return pending.has(incidentId);
    },
    async start() {
      const left = await deps.store.list((file, reason) => log.error('a recorded playbook start cannot be read; left in place', { file, reason }));
      for (const s of left) {
        if (pending.has(s.incidentId)) continue;
        pending.set(s.incidentId, s);
        queue.push(s.incidentId);
      }
      if (left.length > 0) log.info('resuming playbook starts recorded before a restart', { count: left.length });
      pump();
      return left.length;
    },
    async stop() {
      running = false;
      for (const t of retries.values()) clearTimeout(t);
      retries.clear();
      // A start under way is waited for briefly: its record stays until it is made, so one cut
      // off by the exit is made (or found already running) by the next run.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...underWay]), new Promise((resolve) => (timer = setTimeout(resolve, deps.stopGraceMs ?? 500)))]);
      clearTimeout(timer);
    },
    backlog() {
      return pending.size;
    },
    async idle() {
      while (pending.size > 0) {
        if (underWay.size > 0) await Promise.race([...underWay]);
        else await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}
