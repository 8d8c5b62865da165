/** Every REST call the fake answered, with helpers to find and await them. */
import { callMatches } from './match.js';
import type { CallFilter, RecordedCall } from './types.js';

interface Waiter {
  filter: CallFilter | undefined;
  after: number;
  resolve: (call: RecordedCall) => void;
}

export class CallRecorder {
  private readonly log: RecordedCall[] = [];
  private readonly waiters = new Set<Waiter>();
  private nextSeq = 1;

  /** Sequence number of the latest recorded call (0 if none); pass it as `after` to wait for newer calls only. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Records a finished call; seq numbers follow the order in which answers were sent. */
  record(entry: Omit<RecordedCall, 'seq'>): RecordedCall {
    const call: RecordedCall = { seq: this.nextSeq++, ...entry };
    this.log.push(call);
    for (const waiter of [...this.waiters]) {
      if (call.seq > waiter.after && callMatches(waiter.filter, call)) {
        this.waiters.delete(waiter);
        waiter.resolve(call);
      }
    }
    return call;
  }

  calls(filter?: CallFilter): RecordedCall[] {
    return this.log.filter((call) => callMatches(filter, call)).sort((a, b) => a.seq - b.seq);
  }

  clear(): void {
    this.log.length = 0;
  }

  /**
   * Resolves with the first call matching `filter` whose seq is greater than `after` (default 0,
   * i.e. calls already recorded count too); rejects after `timeoutMs`.
   */
  waitForCall(filter?: CallFilter, timeoutMs = 2000, after = 0): Promise<RecordedCall> {
    const existing = this.calls(filter).find((call) => call.seq > after);
    if (existing) return Promise.resolve(existing);
    return new Promise<RecordedCall>((resolve, reject) => {
      const waiter: Waiter = {
        filter,
        after,
        resolve: (call) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.log.map((c) => `${c.method} ${c.path} → ${c.status}`).join('\n  ');
        reject(new Error(`fakeDiscord: no matching REST call within ${timeoutMs} ms; calls so far:\n  ${seen || '(none)'}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}
