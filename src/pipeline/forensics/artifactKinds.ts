/**
 * What the forensic analysis rules are made of: the artifact kinds they read, the fields each
 * kind's parser produces, and the rule and condition shapes. The rules themselves are data
 * (config/analysis-rules/*.yaml, and a team's own directory: loadAnalysisRules.ts); the one generic
 * engine that applies them is applyAnalysisRules.ts. A rule names the artifact kinds it reads and
 * a declarative matcher over the fields the artifact's parser produces (regular expressions on
 * lines, field comparisons, membership in the named IP sets, the incident window).
 *
 * Artifact kinds and the formats their parsers read:
 *
 * | kind | produced by | format |
 * | --- | --- | --- |
 * | `volatile:processes` | collect-volatile | `ps -e -ww -o pid,ppid,user:32,lstart,args --no-headers` (or any `ps -eo …,args` with a header row) |
 * | `volatile:network-connections` | collect-volatile | `ss -tanp` |
 * | `volatile:listening-sockets` | collect-volatile | `ss -tulnp` |
 * | `volatile:logged-in-users` | collect-volatile | `who -a` |
 * | `volatile:last-logins` | collect-volatile | `last -Fw` |
 * | `volatile:shell-histories`, `volatile:recent-logs`, `volatile:crontabs`, `volatile:authorized-keys` | collect-volatile | `===== <path>` sections (or `==> <path> <==` as `tail` prints them), an optional `ls -l` line, then the file's lines |
 * | `volatile:kernel-modules` | collect-volatile | `lsmod` |
 * | `volatile:deleted-binaries` | collect-volatile | `ls -l /proc/[0-9]*\/exe` lines |
 * | `volatile:web-recent-files` | collect-volatile | `find -printf '%T@ %s %m %u %p\n'` |
 * | `disk:listing`, `disk:weblisting` | collect-disk | `find -printf '%T@\t%y\t%M\t%U\t%G\t%s\t%p\t%l\n'` (paths as on the compromised instance) |
 * | `disk:accounts` | collect-disk | `user\tuid\tgid\tshell\tpassword-state\tlast-change-days` (never a hash) |
 * | `disk:logs`, `disk:histories`, `disk:cron`, `disk:persistence`, `disk:authorized-keys` | collect-disk | the files themselves |
 * | `cloudtrail` | pull-cloudtrail | JSON: `{ "events": [...] }` (pull-cloudtrail), `{ "Events": [...] }` (LookupEvents) or `{ "Records": [...] }` (trail log files) |
 * | `disk:bundle` | collect-disk | gzip'd tar; its members are analysed by their paths (analyse-artifacts) |
 */

export type Severity = 'critical' | 'high' | 'medium' | 'low';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { critical: 0, high: 1, medium: 2, low: 3 };

export const ARTIFACT_KINDS = [
  'volatile:processes',
  'volatile:network-connections',
  'volatile:listening-sockets',
  'volatile:logged-in-users',
  'volatile:last-logins',
  'volatile:shell-histories',
  'volatile:recent-logs',
  'volatile:crontabs',
  'volatile:authorized-keys',
  'volatile:kernel-modules',
  'volatile:deleted-binaries',
  'volatile:web-recent-files',
  'disk:logs',
  'disk:histories',
  'disk:cron',
  'disk:persistence',
  'disk:authorized-keys',
  'disk:listing',
  'disk:weblisting',
  'disk:accounts',
  'disk:bundle',
  'cloudtrail',
] as const;

export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Other names accepted for a kind (the names used in planning notes). */
export const ARTIFACT_KIND_ALIASES: Readonly<Record<string, ArtifactKind>> = {
  'volatile:connections': 'volatile:network-connections',
  'volatile:listening': 'volatile:listening-sockets',
  'volatile:histories': 'volatile:shell-histories',
  'volatile:authorized_keys': 'volatile:authorized-keys',
  'volatile:logins': 'volatile:last-logins',
  'volatile:modules': 'volatile:kernel-modules',
  'volatile:logs': 'volatile:recent-logs',
  'disk:authorized_keys': 'disk:authorized-keys',
};

/** The canonical kind for a kind or alias; undefined when unknown. */
export function canonicalKind(kind: string): ArtifactKind | undefined {
  if ((ARTIFACT_KINDS as readonly string[]).includes(kind)) return kind as ArtifactKind;
  return ARTIFACT_KIND_ALIASES[kind];
}

/** Named IP sets a rule can test membership in; filled by the caller for each analysis. */
export type SetName = 'knownBadIps' | 'findingRemoteIp' | 'instanceAddresses';

/**
 * A declarative matcher over one record's fields. For a list field (`ips`, `processes`), a
 * test holds when it holds for any element. A missing field fails every test except `not`.
 */
export type Condition =
  /** Regular expression (JavaScript syntax) searched in the field's text. */
  | { field: string; matches: string; flags?: string }
  | { field: string; equals: string | number }
  | { field: string; oneOf: readonly (string | number)[] }
  /** The (IP) value is in the named set (IPs compared in canonical form). */
  | { field: string; inSet: SetName }
  /** A time (ms since the epoch) inside the incident window; `day` compares whole UTC days. */
  | { field: string; withinWindow: 'exact' | 'day' }
  | { field: string; atLeast: number }
  /** An IP address outside private, shared, loopback, link-local, multicast and reserved ranges. */
  | { field: string; publicIp: true }
  | { not: Condition }
  | { all: readonly Condition[] }
  | { any: readonly Condition[] };

export interface AnalysisRule {
  id: string;
  title: string;
  severity: Severity;
  /** The artifact kinds this rule reads. */
  sources: readonly ArtifactKind[];
  match: Condition;
  /**
   * `present` (default): a finding lists every record of an artifact that matches.
   * `absent`: a finding when no record of the artifact matches (something expected is missing).
   */
  when?: 'present' | 'absent';
  /** Why this matters, and known false positives. */
  description: string;
}

export type Format = 'ps' | 'ss' | 'lsmod' | 'proc-exe' | 'find-simple' | 'listing' | 'accounts' | 'cloudtrail' | 'text' | 'text-decoded' | 'container';

export const ARTIFACT_FORMATS: Readonly<Record<ArtifactKind, Format>> = {
  'volatile:processes': 'ps',
  'volatile:network-connections': 'ss',
  'volatile:listening-sockets': 'ss',
  'volatile:logged-in-users': 'text',
  'volatile:last-logins': 'text',
  'volatile:shell-histories': 'text',
  'volatile:recent-logs': 'text-decoded',
  'volatile:crontabs': 'text',
  'volatile:authorized-keys': 'text',
  'volatile:kernel-modules': 'lsmod',
  'volatile:deleted-binaries': 'proc-exe',
  'volatile:web-recent-files': 'find-simple',
  'disk:logs': 'text-decoded',
  'disk:histories': 'text',
  'disk:cron': 'text',
  'disk:persistence': 'text',
  'disk:authorized-keys': 'text',
  'disk:listing': 'listing',
  'disk:weblisting': 'listing',
  'disk:accounts': 'accounts',
  'disk:bundle': 'container',
  cloudtrail: 'cloudtrail',
};

const LS_FIELDS = ['path', 'size', 'mtimeMs', 'type', 'link', 'mode'] as const;
const TEXT_FIELDS = ['line', 'text', 'ips', 'file', ...LS_FIELDS] as const;

/** The fields each format's records can carry (a test checks every rule against these). */
export const FORMAT_FIELDS: Readonly<Record<Format, readonly string[]>> = {
  ps: ['line', 'pid', 'ppid', 'user', 'startedMs', 'args', 'exe', 'text', 'ips'],
  ss: ['line', 'state', 'localIp', 'localPort', 'peerIp', 'peerPort', 'processes', 'ips'],
  lsmod: ['line', 'module', 'size', 'usedBy'],
  'proc-exe': ['line', 'pid', 'user', 'exe', 'deleted'],
  'find-simple': ['line', 'mtimeMs', 'size', 'mode', 'user', 'path', 'type'],
  listing: ['line', 'mtimeMs', 'type', 'mode', 'uid', 'gid', 'size', 'path', 'link'],
  accounts: ['line', 'user', 'uid', 'gid', 'shell', 'password', 'lastChangeMs'],
  cloudtrail: ['eventId', 'eventName', 'eventSource', 'eventTimeMs', 'sourceIPAddress', 'userAgent', 'accessKeyId', 'userArn', 'userType', 'userName', 'errorCode', 'region', 'ips'],
  text: TEXT_FIELDS,
  'text-decoded': TEXT_FIELDS,
  container: [],
};

/** Every field name a condition reads. */
export function conditionFields(c: Condition): string[] {
  if ('not' in c) return conditionFields(c.not);
  if ('all' in c) return c.all.flatMap(conditionFields);
  if ('any' in c) return c.any.flatMap(conditionFields);
  return [c.field];
}
