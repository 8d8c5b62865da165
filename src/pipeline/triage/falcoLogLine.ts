/**
 * Falco writes its own log lines (start-up, configuration, statistics) on the same stream as its
 * alerts, so `kubectl logs ds/falco` and a Fluent Bit tail of the Falco container carry both. Its
 * logger stamps a line with asctime (`Tue Nov 19 10:55:22 2026: `) or, with
 * time_format_iso_8601, with whole seconds in UTC (`2026-11-19T10:55:22Z: `); an alert line
 * starts with the event time and its priority instead (`10:55:22.123456789: Warning `). At
 * shutdown it prints its statistics without a stamp.
 */
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}\d{1,2} \d{2}:\d{2}:\d{2} \d{4}: /;
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z: /;
const STATISTICS = [/^Events detected: \d+$/, /^Rule counts by severity:$/, /^Triggered rules by rule name:$/, /^Syscall event drop monitoring:$/, /^ {2,}\S.*: \d+$/, /^ {2,}- .*: \d+ occurrences$/];

const NOTE_MAX = 120;

/**
 * When `line` is one of Falco's log lines rather than an alert: a note saying so, with the line's
 * message (clipped); undefined otherwise.
 */
export function falcoLogLine(line: string): string | undefined {
  const stamped = ASCTIME.exec(line) ?? ISO_SECONDS.exec(line);
  const message = stamped ? line.slice(stamped[0].length) : STATISTICS.some((re) => re.test(line)) ? line.trim() : undefined;
  if (message === undefined) return undefined;
  const shown = message.length > NOTE_MAX ? `${message.slice(0, NOTE_MAX)}…` : message;
  return `skipped Falco's own log line (start-up, configuration or statistics), not an alert: ${JSON.stringify(shown)}`;
}
