/**
 * Runs one of the AWS SDK's waiters (`waitUntilVolumeAvailable`, `waitUntilCommandExecuted`, …)
 * and says how it ended instead of throwing on each non-success:
 *
 * - `success` / `failure`: the waiter's own acceptors decided (e.g. a command `Success`, or
 *   `Failed`/`Cancelled`/`TimedOut`; a volume `available`, or `deleted`);
 * - `timeout`: `maxWaitSeconds` passed first (the SDK's bound: it never sleeps past it).
 *
 * `last` is the last response the waiter read (the one that decided, for success and failure),
 * so the caller reports the real state, not the waiter's summary.
 *
 * The SDK's waiters treat every error their acceptors do not name as "try again" until the time
 * is up, and know only their own success and failure states. `stop` keeps a wait from sitting
 * out its whole budget on what will not change: `stop.error` sees each error the polled call
 * throws (access denied, a malformed id), `stop.response` each response (a volume in state
 * `error`); either returns the error to end the wait with, or undefined to let the waiter go on.
 * The wait then ends at once (the waiter's abort signal) and that error is thrown.
 *
 * The delays back off from `minDelaySeconds` to `maxDelaySeconds` with the SDK's jitter.
 */

export interface WaiterTiming {
  maxWaitSeconds: number;
  minDelaySeconds: number;
  maxDelaySeconds: number;
}

export interface WaitOutcome<O> {
  state: 'success' | 'failure' | 'timeout';
  last: O | undefined;
}

/** The parameters every SDK waiter takes (WaiterConfiguration). */
interface WaiterParams<C> {
  client: C;
  maxWaitTime: number;
  minDelay: number;
  maxDelay: number;
  abortSignal: AbortSignal;
}

type SdkWaiter<C, I, O> = (params: WaiterParams<C>, input: I) => Promise<{ final?: O }>;

interface Sender {
  send(command: unknown, ...rest: unknown[]): Promise<unknown>;
}

function failureState(err: unknown): boolean {
  // The SDK's waitUntil* throw the waiter's result as JSON when an acceptor says failure.
  const message = (err as { message?: unknown })?.message;
  if (typeof message !== 'string' || !message.startsWith('{')) return false;
  try {
    return (JSON.parse(message) as { state?: unknown }).state === 'FAILURE';
  } catch {
    return false;
  }
}

export interface WaitStop<O> {
  error?: (err: unknown) => Error | undefined;
  response?: (out: O) => Error | undefined;
}

export async function runWaiter<C extends Sender, I, O>(waiter: SdkWaiter<C, I, O>, client: C, input: I, timing: WaiterTiming, stop: WaitStop<O> = {}): Promise<WaitOutcome<O>> {
  const abort = new AbortController();
  let last: O | undefined;
  let stopped: Error | undefined;
  // The client as the waiter sees it: the same client, its responses recorded on the way past.
  const observed = new Proxy(client, {
    get(target, prop) {
      if (prop !== 'send') return Reflect.get(target, prop, target);
      return async (command: unknown, ...rest: unknown[]) => {
        let out: unknown;
        try {
          out = await target.send(command, ...rest);
        } catch (err) {
          stopped ??= stop.error?.(err);
          if (stopped) abort.abort();
          throw err;
        }
        last = out as O;
        stopped ??= stop.response?.(out as O);
        if (stopped) {
          abort.abort();
          throw stopped;
        }
        return out;
      };
    },
  });
  const minDelay = Math.max(0.001, timing.minDelaySeconds);
  const params: WaiterParams<C> = {
    client: observed,
    maxWaitTime: Math.max(timing.maxWaitSeconds, minDelay + 0.001),
    minDelay,
    maxDelay: Math.max(minDelay, timing.maxDelaySeconds),
    abortSignal: abort.signal,
  };
  try {
    const result = await waiter(params, input);
    return { state: 'success', last: result.final ?? last };
  } catch (err) {
    if (stopped) throw stopped;
    if ((err as { name?: unknown })?.name === 'TimeoutError') return { state: 'timeout', last };
    if (failureState(err)) return { state: 'failure', last };
    throw err;
  }
}
