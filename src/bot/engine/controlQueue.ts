import { open } from 'node:fs/promises';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Intake, IntakeHandler, IntakeMessage } from '../../handlers/ports/intake.js';
import type { JournalRecord } from './executionJournal.js';

/**
 * The embedded engine's control queue: what SQS is between Step Functions and the bot. Each
 * message a playbook sends is delivered to the bot's handler as an IntakeMessage from the control
 * source, with the engine's sender id. `done` removes it; `retry` (or a throw) redelivers it after
 * a backoff, and after `maxReceives` deliveries it is dead-lettered into `dlq.jsonl` with the
 * reason. Every delivery, acknowledgement and dead-lettering is journalled (fsync'd) in the
 * message's execution journal, so a restart redelivers exactly the messages not yet done and the
 * receive count survives it (a message that crashes the process each time still ends in the DLQ).
 */

export interface QueuedMessage {
  messageId: string;
  executionName: string;
  body: string;
  sentAt: Date;
  /** Deliveries so far (journalled before each). */
  receiveCount: number;
}

export interface ControlQueueOptions {
  senderId: string;
  /** Deliveries before a message is dead-lettered (the control queue's maxReceiveCount). */
  maxReceives: number;
  /** Wait before redelivering after the `receiveCount`-th delivery asked for a retry. */
  backoffMs: (receiveCount: number) => number;
  /** Messages handled at once. */
  concurrency: number;
  /** The local DLQ: JSON lines, mode 0600. */
  dlqPath: string;
  logger: Logger;
  /** Journals a record in the message's execution journal. */
  record: (executionName: string, record: JournalRecord) => Promise<void>;
}

export interface DeadLetter {
  at: string;
  messageId: string;
  executionName: string;
  receiveCount: number;
  reason: string;
  body: string;
}

export class ControlQueue implements Intake {
  readonly #options: ControlQueueOptions;
  readonly #ready: QueuedMessage[] = [];
  readonly #waiting = new Map<string, { message: QueuedMessage; timer: NodeJS.Timeout }>();
  readonly #known = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  #handler: IntakeHandler | undefined;
  #running = false;

  constructor(options: ControlQueueOptions) {
    this.#options = options;
  }

  /** Queues a message (once: a message id already queued is ignored). */
  enqueue(message: QueuedMessage): void {
    if (this.#known.has(message.messageId)) return;
    this.#known.add(message.messageId);
    this.#ready.push(message);
    this.#pump();
  }

  /** Messages not yet done or dead-lettered. */
  pending(): number {
    return this.#known.size;
  }

  start(handler: IntakeHandler): void {
    this.#handler = handler;
    this.#running = true;
    this.#pump();
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const { message, timer } of this.#waiting.values()) {
      clearTimeout(timer);
      this.#ready.push(message);
    }
    this.#waiting.clear();
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
  }

  isRunning(): boolean {
    return this.#running;
  }

  #pump(): void {
    if (!this.#running || !this.#handler) return;
    while (this.#inFlight.size < this.#options.concurrency && this.#ready.length) {
      const message = this.#ready.shift()!;
      const delivery = this.#deliver(message, this.#handler).finally(() => {
        this.#inFlight.delete(delivery);
        this.#pump();
      });
      this.#inFlight.add(delivery);
    }
  }

  #later(message: QueuedMessage, ms: number): void {
    if (!this.#running) {
      this.#ready.push(message);
      return;
    }
    const timer = setTimeout(() => {
      this.#waiting.delete(message.messageId);
      this.#ready.push(message);
      this.#pump();
    }, ms);
    this.#waiting.set(message.messageId, { message, timer });
  }

  async #deliver(message: QueuedMessage, handler: IntakeHandler): Promise<void> {
    const { logger, maxReceives } = this.#options;
    const log = logger.child({ messageId: message.messageId, executionName: message.executionName });
    if (message.receiveCount >= maxReceives) {
      // Received that often and never done: the process stopped while handling it each time (as SQS
      // moves a message past maxReceiveCount to the DLQ instead of delivering it again).
      try {
        await this.#deadLetter(message, `delivered ${message.receiveCount} times without being done (the process stopped while handling it)`);
      } catch (err) {
        log.error('cannot dead-letter a control message; will try again', { reason: describeError(err) });
        this.#later(message, this.#options.backoffMs(message.receiveCount));
      }
      return;
    }
    const receiveCount = message.receiveCount + 1;
    try {
      await this.#options.record(message.executionName, { type: 'message-received', messageId: message.messageId, receiveCount, at: new Date().toISOString() });
    } catch (err) {
      log.error('cannot journal a control message delivery; will try again', { reason: describeError(err) });
      this.#later(message, this.#options.backoffMs(Math.max(1, message.receiveCount)));
      return;
    }
    message.receiveCount = receiveCount;
    const delivered: IntakeMessage = { id: message.messageId, body: message.body, receiveCount, source: 'control', transport: 'embedded', senderId: this.#options.senderId, sentAt: message.sentAt };
    let outcome: 'done' | 'retry';
    let reason = 'the handler asked for a retry';
    try {
      outcome = await handler(delivered);
    } catch (err) {
      outcome = 'retry';
      reason = `the handler failed: ${describeError(err)}`;
    }
    try {
      if (outcome === 'done') {
        await this.#options.record(message.executionName, { type: 'message-acked', messageId: message.messageId, at: new Date().toISOString() });
        this.#known.delete(message.messageId);
        return;
      }
      if (receiveCount >= maxReceives) {
        await this.#deadLetter(message, `${reason} (delivered ${receiveCount} times)`);
        return;
      }
    } catch (err) {
      log.error('cannot journal a control message outcome; it will be delivered again', { reason: describeError(err) });
    }
    if (outcome === 'retry') log.warn('control message will be redelivered', { receiveCount, reason });
    this.#later(message, this.#options.backoffMs(receiveCount));
  }

  async #deadLetter(message: QueuedMessage, reason: string): Promise<void> {
    const entry: DeadLetter = {
      at: new Date().toISOString(),
      messageId: message.messageId,
      executionName: message.executionName,
      receiveCount: message.receiveCount,
      reason,
      body: message.body,
    };
    const handle = await open(this.#options.dlqPath, 'a', 0o600);
    try {
      await handle.appendFile(`${JSON.stringify(entry)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.#options.record(message.executionName, { type: 'message-dead', messageId: message.messageId, receiveCount: message.receiveCount, reason, at: entry.at });
    this.#known.delete(message.messageId);
    this.#options.logger.error('control message dead-lettered', {
      messageId: message.messageId,
      executionName: message.executionName,
      receiveCount: message.receiveCount,
      reason,
      dlq: this.#options.dlqPath,
    });
  }
}
