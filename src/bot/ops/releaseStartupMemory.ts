/**
 * Gives back the memory start-up used and no longer needs. Loading the modules and building the
 * AWS ranges index leave V8's old space far larger than what stays live (52 MB committed for 38
 * MB used, idle), and V8's memory reducer compacts it only once the bot has been idle for a while
 * (about 105 s after ready here). One memory-reducing full collection a little after start-up
 * does the same then: idle RSS 106 MB at 60-90 s after ready against 130 MB without it
 * (docs/benchmarks.md, Memory).
 *
 * Node exposes no such collection without `--expose-gc`: V8's gc extension is turned on for this
 * process (`v8.setFlagsFromString`) and taken from a new context, the documented way to reach it
 * at run time. The collection is V8's "last resort" one (every space compacted, memory given back
 * to the system): one pause of some tens of milliseconds, once.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/** V8's gc function for this process. */
function gcFunction(): GcFunction | undefined {
  const own = (globalThis as { gc?: GcFunction }).gc;
  if (typeof own === 'function') return own;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as GcFunction | undefined;
  return typeof gc === 'function' ? gc : undefined;
}

export interface ReleasedMemory {
  /** RSS and V8's committed heap before and after, in bytes. */
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  pauseMs: number;
}

/** Runs one memory-reducing full collection now; undefined when V8's gc cannot be reached. */
export function releaseStartupMemory(): ReleasedMemory | undefined {
  const gc = gcFunction();
  if (!gc) return undefined;
  const before = process.memoryUsage();
  const t0 = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const pauseMs = performance.now() - t0;
  const after = process.memoryUsage();
  return { rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapTotal, heapAfter: after.heapTotal, pauseMs };
}
