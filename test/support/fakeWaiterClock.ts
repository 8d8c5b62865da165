/**
 * A fake clock for code that waits with the AWS SDK's waiters (waitUntilCommandExecuted,
 * waitUntilVolumeAvailable, …). They sleep with the global setTimeout and measure their deadline
 * with Date.now(), and take no clock to inject. In each test of the describe block (or file) that
 * calls useFakeWaiterClock(), both are vitest's fakes, and every real millisecond the fake clock
 * jumps to the next timer: a waiter's backoff and its deadline pass at once (a six-minute
 * deadline in well under a second), while real I/O (moto over HTTP, aws-sdk-client-mock) runs
 * as usual. The driver runs on node:timers' own setTimeout, which the fakes do not replace.
 *
 * A jump can also fire an HTTP client's housekeeping timer early (the SDK's socket-usage
 * warning, its keep-alive deferral), and moves Date on by that much: nothing a test relies on.
 */
import { clearTimeout as realClearTimeout, setTimeout as realSetTimeout } from 'node:timers';
import { afterEach, beforeEach, vi } from 'vitest';

export function useFakeWaiterClock(): void {
  let driver: ReturnType<typeof realSetTimeout> | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const tick = () => {
      vi.advanceTimersToNextTimer();
      driver = realSetTimeout(tick, 1);
    };
    driver = realSetTimeout(tick, 1);
  });
  afterEach(() => {
    if (driver) realClearTimeout(driver);
    driver = undefined;
    vi.useRealTimers();
  });
}
