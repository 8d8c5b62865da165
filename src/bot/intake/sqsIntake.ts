import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Intake, IntakeHandler, IntakeMessage, IntakeSource } from '../../handlers/ports/intake.js';

export interface SqsIntakeOptions {
  queueUrl: string;
  /** What the queue carries: the handler checks each message's kind and sender against it. */
  source: IntakeSource;
  /** Messages asked for in one receive (1-10). */
  batchSize: number;
  /** Messages handled at once, at most (default 10 × batchSize). */
  concurrency?: number;
  visibilitySeconds: number;
  waitSeconds: number;
  /** How long `stop` waits for the messages in flight (default 1000 ms). */
  stopGraceMs?: number;
  logger: Logger;
}

const graceMsOf = (o: SqsIntakeOptions) => o.stopGraceMs ?? 1000;

/** Long polls open at once while there is room: one waits on SQS while another's messages are handed out. */
const RECEIVERS = 2;
/** Deletes wait this long for company before DeleteMessageBatch goes out (up to 10 a request). */
const DELETE_LINGER_MS = 5;
/**
 * After the grace, how long a stop waits for its last deletes and releases: one not answered by then
 * only means a message comes back (handlers are idempotent), and SIGTERM must end well inside
 * Kubernetes' 30 s (the queue's endpoint is slowest exactly when the bot is busiest).
 */
const STOP_CALLS_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

interface InFlight {
  receiptHandle: string;
  /** When its visibility timeout last started: received, or extended. */
  visibleSince: number;
}

/**
 * SQS intake as a pool: up to `concurrency` messages are handled at once, and a receive goes out
 * as soon as a batch fits, so one slow message holds only its own slot (a receive loop that waited
 * for its whole batch would hold the nine others and the queue behind them). A message is deleted
 * only once its handler says `done` (deletes are batched); `retry` leaves it to come back after its
 * visibility timeout, and a message that keeps failing reaches the DLQ through the redrive policy.
 * While a message is handled its visibility is extended (a heartbeat every half timeout).
 * Receive errors back off (1 s doubling to 30 s). `stop()` aborts the open long polls at once,
 * waits for the messages in flight (up to `stopGraceMs`) and sends their deletes. A message still
 * being handled after that is made visible again, for this bot after its restart or another
 * replica (every handler is idempotent), so a stop never waits on a long step: nothing is lost,
 * and messages of a receive cut off in transit come back after their visibility timeout.
 */
export function createSqsIntake(sqs: SQSClient, options: SqsIntakeOptions): Intake {
  const log = options.logger;
  const batchSize = Math.min(10, Math.max(1, options.batchSize));
  const concurrency = Math.max(batchSize, options.concurrency ?? batchSize * 10);
  const heartbeatMs = Math.max(1, Math.floor(options.visibilitySeconds / 2)) * 1000;
  let running = false;
  let receiving: AbortController | undefined;
  let handler: IntakeHandler | undefined;
  const inFlight = new Map<string, InFlight>();
  /** Receives open now (each reserved room for a batch). */
  const receives = new Set<Promise<void>>();
  let backoffMs = 0;
  let backoffUntil = 0;
  let lastFailureAt = 0;
  let pump: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let drained: (() => void) | undefined;
  const deletes: { id: string; receiptHandle: string }[] = [];
  let deleteTimer: NodeJS.Timeout | undefined;
  const deleting = new Set<Promise<void>>();

  /** The pump waits for something to change: a slot freed, a receive returned, a stop. */
  let changed: (() => void) | undefined;
  const notify = () => {
    const c = changed;
    changed = undefined;
    c?.();
  };
  const nextChange = (ms?: number) =>
    new Promise<void>((resolve) => {
      const t = ms === undefined ? undefined : setTimeout(resolve, ms);
      changed = () => {
        if (t) clearTimeout(t);
        resolve();
      };
    });
  const room = () => concurrency - inFlight.size - receives.size * batchSize;

  function flushDeletes(): void {
    if (deleteTimer) clearTimeout(deleteTimer);
    deleteTimer = undefined;
    while (deletes.length > 0) {
      const entries = deletes.splice(0, 10).map((d, i) => ({ Id: String(i), ReceiptHandle: d.receiptHandle, messageId: d.id }));
      const sent = sqs
        .send(new DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: entries.map(({ Id, ReceiptHandle }) => ({ Id, ReceiptHandle })) }))
        .then((r) => {
          for (const f of r.Failed ?? []) {
            const messageId = entries[Number(f.Id)]?.messageId;
            log.warn('SQS delete failed; the message will come back and be handled again (idempotently)', { messageId, reason: f.Message ?? f.Code });
          }
        })
        .catch((err: unknown) => {
          log.warn('SQS delete failed; the messages will come back and be handled again (idempotently)', { messageIds: entries.map((e) => e.messageId), reason: describeError(err) });
        });
      deleting.add(sent);
      void sent.finally(() => deleting.delete(sent));
    }
  }

  function queueDelete(id: string, receiptHandle: string): void {
    deletes.push({ id, receiptHandle });
    if (deletes.length >= 10 || !running) flushDeletes();
    else deleteTimer ??= setTimeout(flushDeletes, DELETE_LINGER_MS);
  }

  function extendVisibility(): void {
    // Due when half the heartbeat has passed since the last extension: the interval's phase never
    // lets a message's timeout run out between two beats.
    const now = Date.now();
    const due = [...inFlight.entries()].filter(([, m]) => now - m.visibleSince >= heartbeatMs / 2);
    for (const [, m] of due) m.visibleSince = now;
    for (let i = 0; i < due.length; i += 10) {
      const chunk = due.slice(i, i + 10);
      const entries = chunk.map(([, m], n) => ({ Id: String(n), ReceiptHandle: m.receiptHandle, VisibilityTimeout: options.visibilitySeconds }));
      sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: options.queueUrl, Entries: entries })).catch((err: unknown) =>
        log.warn('extending the visibility of messages in flight failed', { messageIds: chunk.map(([id]) => id), reason: describeError(err) }),
      );
    }
  }

  /** Messages still handled when the stop's grace ran out: visible again at once (their handlers are idempotent). */
  async function releaseUnfinished(graceMs: number): Promise<void> {
    const left = [...inFlight.entries()];
    log.warn('stopping with messages still being handled; they are released for redelivery', { messageIds: left.map(([id]) => id), graceMs });
    for (let i = 0; i < left.length; i += 10) {
      const entries = left.slice(i, i + 10).map(([, m], n) => ({ Id: String(n), ReceiptHandle: m.receiptHandle, VisibilityTimeout: 0 }));
      await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: options.queueUrl, Entries: entries })).catch((err: unknown) => {
        log.warn('releasing messages still being handled failed; they come back after their visibility timeout', { reason: describeError(err) });
      });
    }
    // Their handlers may still end while the process exits: nothing more is deleted or extended.
    inFlight.clear();
  }

  async function handleOne(message: Message): Promise<void> {
    const id = message.MessageId ?? '';
    const sent = Number(message.Attributes?.SentTimestamp);
    const senderId = message.Attributes?.SenderId;
    const intakeMessage: IntakeMessage = {
      id,
      body: message.Body,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
      source: options.source,
      transport: 'sqs',
      ...(senderId ? { senderId } : {}),
      ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    };
    try {
      const outcome = await handler!(intakeMessage);
      const receiptHandle = inFlight.get(id)?.receiptHandle;
      if (outcome === 'done' && receiptHandle) queueDelete(id, receiptHandle);
    } catch (err) {
      log.error('message handling failed; it will be retried', { messageId: id, reason: describeError(err) });
    } finally {
      inFlight.delete(id);
      notify();
      if (inFlight.size === 0) drained?.();
    }
  }

  /** One receive: its messages are handed out as they come; a failure starts (or extends) the backoff. */
  async function receiveOnce(signal: AbortSignal): Promise<void> {
    const startedAt = Date.now();
    let messages: Message[];
    try {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: batchSize,
          WaitTimeSeconds: options.waitSeconds,
          VisibilityTimeout: options.visibilitySeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SenderId', 'SentTimestamp'],
        }),
        { abortSignal: signal },
      );
      messages = r.Messages ?? [];
      backoffMs = 0;
    } catch (err) {
      if (signal.aborted) return; // the long poll this intake ended itself, on stop
      // Receives open together fail together: one outage, one step of the backoff.
      if (startedAt < lastFailureAt) return;
      lastFailureAt = Date.now();
      backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs ? backoffMs * 2 : 1000);
      backoffUntil = lastFailureAt + backoffMs;
      log.error('SQS receive failed; backing off', { reason: describeError(err), backoffMs });
      return;
    }
    for (const m of messages) {
      const id = m.MessageId ?? '';
      if (!m.ReceiptHandle) continue;
      const handling = inFlight.get(id);
      if (handling) {
        // Its visibility ran out while it is still handled here: not handled twice; its newest
        // receipt handle is the one its heartbeat and delete must use.
        handling.receiptHandle = m.ReceiptHandle;
        log.warn('a message still being handled was delivered again (its visibility ran out); not handled twice', { messageId: id });
        continue;
      }
      inFlight.set(id, { receiptHandle: m.ReceiptHandle, visibleSince: Date.now() });
      void handleOne(m);
    }
  }

  /** Keeps up to RECEIVERS receives open while there is room for their batches. */
  async function runPump(signal: AbortSignal): Promise<void> {
    while (running) {
      const wait = backoffUntil - Date.now();
      if (wait > 0) {
        await nextChange(wait);
        continue;
      }
      if (receives.size < RECEIVERS && room() >= batchSize) {
        const r = receiveOnce(signal).finally(() => {
          receives.delete(r);
          notify();
        });
        receives.add(r);
        continue;
      }
      await nextChange();
    }
  }

  return {
    start(h: IntakeHandler) {
      if (running) return;
      running = true;
      handler = h;
      receiving = new AbortController();
      heartbeat = setInterval(extendVisibility, heartbeatMs);
      heartbeat.unref();
      pump = runPump(receiving.signal);
    },
    async stop() {
      if (!running) return;
      running = false;
      receiving?.abort();
      notify();
      await pump;
      await Promise.all([...receives]);
      if (inFlight.size > 0) {
        const graceMs = graceMsOf(options);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((resolve) => (drained = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
      }
      if (heartbeat) clearInterval(heartbeat);
      flushDeletes();
      const last = Promise.all([...deleting, inFlight.size > 0 ? releaseUnfinished(graceMsOf(options)) : undefined]);
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([last.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_CALLS_MS)))]);
      clearTimeout(timer);
      if (late) log.warn('stopped before SQS answered the last deletes or releases; those messages come back and are handled again (idempotently)', { waitedMs: STOP_CALLS_MS });
    },
    isRunning() {
      return running;
    },
  };
}
