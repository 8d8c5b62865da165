/**
 * Where an event goes. `test` is Falcosidekick's test event: the bot says the wiring works, no
 * incident and no playbook. `contain-pod` is the pod-level playbook (pod-containment: isolate the
 * pod, extract and quarantine the process's executable, block the remote IP, ask before isolating
 * the node), for GuardDuty EKS findings in a pod.
 */
export const ROUTES = ['file-artifact', 'block-egress', 'isolate-node', 'approval', 'record', 'forensics', 'notify', 'contain-pod', 'test', 'ignore'] as const;
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
  /**
   * A matched playbook rule has `dryRun: true` (or its alias `observe: true`): the playbook runs
   * every action as a dry run that shows its plan.
   */
  observe?: true;
  /**
   * Fields the sender added that are not Falco's own (keys without a dot in `output_fields`):
   * Falcosidekick's `customfields` and `templatedfields`, Falco's `append_output` extra fields,
   * e.g. `cluster`. Shown in embeds (the cluster first); playbook rules can match them.
   */
  custom?: Record<string, string>;
}

export interface TriageFailure {
  error: string;
}

/**
 * A triaged event, or why not. `skipped` marks input that is not an event at all (a Falco log line:
 * start-up, statistics): reported with a note, never counted as a failure.
 */
export type TriageOutcome = { ok: true; result: TriageResult } | { ok: false; error: string; skipped?: true };
