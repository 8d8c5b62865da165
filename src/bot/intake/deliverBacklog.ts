import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { IntakeHandler, IntakeMessage } from '../../handlers/ports/intake.js';
import type { BacklogEntry, WebhookBacklog } from './webhookBacklog.js';

export interface BacklogDeliveryOptions {
  backlog: WebhookBacklog;
  /** Entries handled at once. */
  concurrency: number;
  /** Deliveries of one entry before it is dead-lettered (as an SQS queue's maxReceiveCount). */
  maxReceives: number;
  /** Wait before the next delivery after the `receiveCount`-th asked for a retry. */
  backoffMs: (receiveCount: number) => number;
  logger: Logger;
  now?: () => Date;
}

/** 10 s, doubling, at most 5 minutes. */
export function defaultBacklogBackoffMs(receiveCount: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, receiveCount - 1));
}

/**
 * Hands the webhook backlog's entries to the intake handler, as SQS hands messages: at most
 * `concurrency` at once, in accept order. Each delivery's receive count is written to the entry
 * (fsync'd) before the handler sees it, so it survives a crash. `done` deletes the entry; `retry`
 * (or a throw) keeps it for a later delivery after a backoff (also kept across restarts); after
 * `maxReceives` deliveries it moves to the dead-letter directory with the reason. An entry whose
 * count already reached `maxReceives` when it comes up again (the process died while handling it
 * each time) is dead-lettered without another delivery.
 */
export class BacklogDelivery {
  readonly #options: BacklogDeliveryOptions;
  readonly #now: () => Date;
  readonly #ready: string[] = [];
  readonly #waiting = new Map<string, NodeJS.Timeout>();
  /** Ids ready, waiting or in flight: each is delivered by one delivery at a time. */
  readonly #known = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  #handler: IntakeHandler | undefined;
  #running = false;

  constructor(options: BacklogDeliveryOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Starts delivering every pending entry, and each one add()ed later. */
  start(handler: IntakeHandler): void {
    if (this.#running) return;
    this.#handler = handler;
    this.#running = true;
    for (const { id, notBefore } of this.#options.backlog.pending()) this.add(id, notBefore);
  }

  /** Queues an entry for delivery (once), not before `notBefore`. Ignored while stopped: start() picks it up. */
  add(id: string, notBefore?: Date): void {
    if (!this.#running || this.#known.has(id)) return;
    this.#known.add(id);
    const wait = notBefore ? notBefore.getTime() - this.#now().getTime() : 0;
    if (wait > 0) this.#later(id, wait);
    else {
      this.#ready.push(id);
      this.#pump();
    }
  }

  /** Stops starting deliveries, waits for those in flight, and resolves. Entries not delivered stay on disk. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const timer of this.#waiting.values()) clearTimeout(timer);
    this.#waiting.clear();
    this.#ready.length = 0;
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
    this.#known.clear();
  }

  isRunning(): boolean {
    return this.#running;
  }

  /** Deliveries under way. */
  inFlight(): number {
    return this.#inFlight.size;
  }

  #pump(): void {
    const handler = this.#handler;
    if (!this.#running || !handler) return;
    while (this.#inFlight.size < this.#options.concurrency && this.#ready.length) {
      const id = this.#ready.shift()!;
      const delivery = this.#deliver(id, handler)
        .catch((err: unknown) => {
          // #deliver handles its own failures; this is the last guard.
          this.#options.logger.error('webhook event delivery failed; will try again', { messageId: id, reason: describeError(err) });
          this.#later(id, this.#options.backoffMs(1));
        })
        .finally(() => {
          this.#inFlight.delete(delivery);
          this.#pump();
        });
      this.#inFlight.add(delivery);
    }
  }

  #later(id: string, ms: number): void {
    if (!this.#running) {
      this.#known.delete(id);
      return;
    }
    const timer = setTimeout(() => {
      this.#waiting.delete(id);
      if (!this.#running) return;
      this.#ready.push(id);
      this.#pump();
    }, ms);
    timer.unref?.();
    this.#waiting.set(id, timer);
  }

  #done(id: string): void {
    this.#known.delete(id);
  }

  async #deliver(id: string, handler: IntakeHandler): Promise<void> {
    const { backlog, maxReceives, backoffMs } = this.#options;
    const log = this.#options.logger.child({ messageId: id, queue: 'webhook' });
    let entry: BacklogEntry | undefined;
    try {
      entry = await backlog.read(id);
    } catch (err) {
      const reason = `unreadable backlog entry: ${describeError(err)}`;
      await backlog.setAsideUnreadable(id, reason);
      log.error('webhook event set aside: its backlog entry cannot be read', { reason, dead: backlog.deadDir });
      this.#done(id);
      return;
    }
    if (!entry) {
      this.#done(id);
      return;
    }
    if (entry.receiveCount >= maxReceives) {
      await this.#deadLetter(entry, `delivered ${entry.receiveCount} times without being done (the process stopped while handling it)`, log);
      return;
    }

    const receiveCount = entry.receiveCount + 1;
    const { notBefore: _waited, ...rest } = entry;
    const delivering: BacklogEntry = { ...rest, receiveCount };
    try {
      await backlog.update(delivering);
    } catch (err) {
      log.error('cannot record a webhook event delivery; will try again', { reason: describeError(err) });
      this.#later(id, backoffMs(Math.max(1, entry.receiveCount)));
      return;
    }

    const message: IntakeMessage = {
      id,
      body: entry.body,
      receiveCount,
      source: 'intake',
      transport: 'webhook',
      senderId: entry.peer ?? 'unknown',
      sentAt: new Date(entry.acceptedAt),
    };
    let outcome: 'done' | 'retry';
    let reason = 'the handler asked for a retry';
    try {
      outcome = await handler(message);
    } catch (err) {
      outcome = 'retry';
      reason = `the handler failed: ${describeError(err)}`;
    }

    if (outcome === 'done') {
      try {
        await backlog.remove(id);
        this.#done(id);
      } catch (err) {
        // The handler is idempotent by message id: delivering it again is safe, losing it is not.
        log.error('cannot delete a handled webhook event; it will be delivered again', { reason: describeError(err) });
        this.#later(id, backoffMs(receiveCount));
      }
      return;
    }
    if (receiveCount >= maxReceives) {
      await this.#deadLetter(delivering, `${reason} (delivered ${receiveCount} times)`, log);
      return;
    }
    const wait = backoffMs(receiveCount);
    try {
      await backlog.update({ ...delivering, notBefore: new Date(this.#now().getTime() + wait).toISOString(), lastReason: reason.slice(0, 2000) });
    } catch (err) {
      log.error('cannot record a webhook event retry; it will be retried anyway', { reason: describeError(err) });
    }
    log.warn('webhook event will be delivered again', { receiveCount, reason, retryInMs: wait });
    this.#later(id, wait);
  }

  async #deadLetter(entry: BacklogEntry, reason: string, log: Logger): Promise<void> {
    try {
      await this.#options.backlog.deadLetter(entry, reason);
    } catch (err) {
      log.error('cannot dead-letter a webhook event; will try again', { reason: describeError(err) });
      this.#later(entry.id, this.#options.backoffMs(Math.max(1, entry.receiveCount)));
      return;
    }
    this.#done(entry.id);
    log.error('webhook event dead-lettered', { receiveCount: entry.receiveCount, reason, dead: this.#options.backlog.deadDir });
  }
}
