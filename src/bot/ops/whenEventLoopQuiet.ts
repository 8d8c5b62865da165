import { performance } from 'node:perf_hooks';

export interface QuietOptions {
  /** How often the event loop's use is read (the interval it is averaged over). */
  everyMs: number;
  /** Below this share of the interval busy, the process counts as quiet; default 0.2. */
  threshold?: number;
  /** After this long without a quiet interval, `wait` resolves false (0: the first interval decides). */
  giveUpAfterMs: number;
}

/**
 * Waits for an interval in which the event loop was mostly idle (performance.eventLoopUtilization):
 * work that pauses the process (a full collection) is put off while it handles a storm.
 */
export function whenEventLoopQuiet(options: QuietOptions): { wait(onTimer?: (t: NodeJS.Timeout) => void): Promise<boolean> } {
  const threshold = options.threshold ?? 0.2;
  return {
    wait(onTimer) {
      const started = Date.now();
      return new Promise<boolean>((resolve) => {
        let last = performance.eventLoopUtilization();
        const check = () => {
          const now = performance.eventLoopUtilization();
          const use = performance.eventLoopUtilization(now, last).utilization;
          last = now;
          if (use < threshold) return resolve(true);
          if (Date.now() - started >= options.giveUpAfterMs) return resolve(false);
          const t = setTimeout(check, options.everyMs);
          t.unref();
          onTimer?.(t);
        };
        const t = setTimeout(check, options.everyMs);
        t.unref();
        onTimer?.(t);
      });
    },
  };
}
