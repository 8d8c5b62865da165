export const ROUTES = ['file-artifact', 'block-egress', 'isolate-node', 'approval', 'record', 'forensics', 'notify', 'ignore'] as const;
export type Route = (typeof ROUTES)[number];

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type EventSource = 'falco' | 'guardduty';

export interface Target {
  node?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  instanceId?: string;
}

export interface Artifact {
  path: string;
  src?: string;
}

export interface Ioc {
  ip: string;
  port?: number;
}

/** The normalized, classified incident that triage produces for one event. */
export interface TriageResult {
  source: EventSource;
  rule: string;
  severity: Severity;
  route: Route;
  target: Target;
  artifact?: Artifact;
  ioc?: Ioc;
  dedupeKey: string;
  steps: string[];
  /** When the event happened (ISO 8601), if it says. */
  time?: string;
  /** Human context: user, process, command line, finding title. Never used for routing. */
  context: Record<string, string>;
  /** Things triage noticed but could not use (ambiguous or invalid fields). */
  warnings: string[];
  /** The matching playbook rule is observe-only: its playbook runs every action as a dry run. */
  observe?: true;
}

export interface TriageFailure {
  error: string;
}

export type TriageOutcome = { ok: true; result: TriageResult } | { ok: false; error: string };
