import type { Severity } from './types.js';

export const FALCO_PRIORITIES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'] as const;
export type FalcoPriority = (typeof FALCO_PRIORITIES)[number];

const ALIASES: Record<string, FalcoPriority> = { info: 'informational', warn: 'warning', err: 'error', crit: 'critical', emerg: 'emergency' };

/** The names as Falco writes them (capitalized) and in lower case: read without trimming or lowering. */
const AS_WRITTEN: ReadonlyMap<string, FalcoPriority> = new Map(
  [...FALCO_PRIORITIES, 'info' as const].flatMap((p) => {
    const priority = p === 'info' ? 'informational' : p;
    return [
      [p, priority],
      [p[0]!.toUpperCase() + p.slice(1), priority],
    ] as [string, FalcoPriority][];
  }),
);

/** Parses a Falco priority name (any case, with the usual short forms); undefined when unknown. */
export function parseFalcoPriority(value: string): FalcoPriority | undefined {
  const written = AS_WRITTEN.get(value);
  if (written !== undefined) return written;
  const v = value.trim().toLowerCase();
  if ((FALCO_PRIORITIES as readonly string[]).includes(v)) return v as FalcoPriority;
  return ALIASES[v];
}

/** Higher is more severe. */
export function falcoPriorityRank(p: FalcoPriority): number {
  return FALCO_PRIORITIES.length - FALCO_PRIORITIES.indexOf(p);
}

export function severityOfFalcoPriority(p: FalcoPriority): Severity {
  switch (p) {
    case 'emergency':
    case 'alert':
    case 'critical':
      return 'critical';
    case 'error':
      return 'high';
    case 'warning':
      return 'medium';
    case 'notice':
      return 'low';
    default:
      return 'info';
  }
}

/** GuardDuty's bands: 9.0+ critical, 7.0+ high, 4.0+ medium, 1.0+ low, else info. */
export function severityOfGuardDutyScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score >= 1) return 'low';
  return 'info';
}
