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

/** The file of a file-artifact event. */
export interface Artifact {
  /** The file, when the event names exactly one (Falco's structured fields first, then the text). */
  path?: string;
  /** Where it came from (an upload's temporary file), when the event says. */
  src?: string;
  /**
   * Instead of `path`: every reading of a file path the output text allows when it allows more
   * than one (a file name crafted to look like fields). Containment then asks a person, showing
   * them all; nothing is dropped.
   */
  candidates?: string[];
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
