import { canonicalIp as canonicalAddress } from '../net/ipAddress.js';
import { checkProtectedDestination } from '../planning/protectedDestination.js';

/**
 * The forensic analysis rules, as data, in one place; and the one generic engine that applies
 * them. A rule names the artifact kinds it reads and a declarative matcher over the fields the
 * artifact's parser produces (regular expressions on lines, field comparisons, membership in the
 * named IP sets, the incident window). The engine has no rule-specific code: adding a rule is
 * adding an entry to ANALYSIS_RULES.
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

// ---------------------------------------------------------------------------------------------
// Shared pieces of the rules.
// ---------------------------------------------------------------------------------------------

/** Kinds whose records are command lines or file lines (the `text` field). */
const COMMAND_TEXT: readonly ArtifactKind[] = [
  'volatile:processes',
  'volatile:shell-histories',
  'volatile:recent-logs',
  'volatile:crontabs',
  'disk:logs',
  'disk:histories',
  'disk:cron',
  'disk:persistence',
];
const LOG_TEXT: readonly ArtifactKind[] = [
  'volatile:recent-logs',
  'volatile:logged-in-users',
  'volatile:last-logins',
  'volatile:shell-histories',
  'volatile:crontabs',
  'disk:logs',
  'disk:histories',
  'disk:cron',
];
/** Kinds with file metadata (path, type, size, link) for history files. */
const HISTORY_LISTINGS: readonly ArtifactKind[] = ['disk:listing', 'volatile:shell-histories'];
const WEB_LISTINGS: readonly ArtifactKind[] = ['disk:weblisting', 'volatile:web-recent-files'];

const TEMP_DIRS = '/(?:tmp|var/tmp|dev/shm)/';
const HISTORY_FILE = '(?:^|/)\\.[a-z]*_?history$';
/** Common pool ports of Monero (XMR) mining pools. */
const POOL_PORTS = [3333, 5555, 7777, 14433, 14444, 45560, 45700] as const;
/** Script types a web server would execute, in an upload directory. */
const UPLOAD_DIR = '/(?:uploads|upload_files|user_uploads)/';
const SCRIPT_EXT = '\\.(?:php[0-9]?|phtml|pht|phar|jsp|jspx|aspx?|cgi)';
const WEB_SCRIPT_IN_UPLOADS = `${UPLOAD_DIR}(?:[^/]+/)*[^/]+${SCRIPT_EXT}$`;

/**
 * The rules. Keep ids stable (they appear in stored findings). Order is the report order
 * within a severity.
 */
export const ANALYSIS_RULES: readonly AnalysisRule[] = [
  // --- network -------------------------------------------------------------------------------
  {
    id: 'net-finding-remote-ip',
    title: "Connection to the finding's remote IP",
    severity: 'critical',
    sources: ['volatile:network-connections'],
    match: { field: 'peerIp', inSet: 'findingRemoteIp' },
    description: 'A socket to the remote address GuardDuty reported: the activity is still going on (reverse shell, C2).',
  },
  {
    id: 'net-known-bad-ip',
    title: 'Connection to a known-bad IP',
    severity: 'high',
    sources: ['volatile:network-connections'],
    match: { all: [{ field: 'peerIp', inSet: 'knownBadIps' }, { not: { field: 'peerIp', inSet: 'findingRemoteIp' } }] },
    description: 'A socket to an address on the malicious-IP list (or given as known bad).',
  },
  {
    id: 'net-mining-pool-port',
    title: 'Established connection to a mining-pool port',
    severity: 'high',
    sources: ['volatile:network-connections'],
    match: { all: [{ field: 'state', equals: 'ESTAB' }, { field: 'peerPort', oneOf: POOL_PORTS }, { field: 'peerIp', publicIp: true }] },
    description: `Outbound TCP to a port Monero pools use (${POOL_PORTS.join(', ')}). Rarely legitimate from a web server.`,
  },
  {
    id: 'net-shell-listener',
    title: 'Shell or netcat listening on a port',
    severity: 'high',
    sources: ['volatile:listening-sockets'],
    match: { field: 'processes', matches: '^(?:nc|ncat|netcat|nc\\.traditional|nc\\.openbsd|socat|bash|sh|dash|zsh|python[0-9.]*|perl|php[0-9.]*|ruby)$' },
    description: 'A bind shell: an interpreter or netcat owns a listening socket.',
  },
  {
    id: 'text-known-bad-ip',
    title: 'Known-bad IP in logs, logins or histories',
    severity: 'high',
    sources: LOG_TEXT,
    match: { field: 'ips', inSet: 'knownBadIps' },
    description: 'An address on the malicious-IP list (or the finding remote IP) appears in a log line, a login record, a history or a crontab.',
  },
  // --- processes and commands -----------------------------------------------------------------
  {
    id: 'reverse-shell',
    title: 'Reverse shell command line',
    severity: 'critical',
    sources: COMMAND_TEXT,
    match: {
      any: [
        // An interactive shell or a descriptor wired to /dev/tcp (not `echo > /dev/tcp/db/3306`, a port check).
        { field: 'text', matches: '\\b(?:ba|da|z|k)?sh\\s+-i\\b.*/dev/(?:tcp|udp)/' },
        { field: 'text', matches: '(?:>&|&>|<>)\\s*/dev/(?:tcp|udp)/[^\\s/]+/\\d+' },
        { field: 'text', matches: '\\b(?:nc|ncat|netcat|nc\\.traditional)\\b[^|;&\\n]*\\s-[a-z]*[ec]\\b' },
        { field: 'text', matches: '\\bncat\\b.*--(?:sh-)?exec\\b' },
        { field: 'text', matches: '\\bmkfifo\\b.*\\b(?:nc|ncat|netcat|telnet|openssl)\\b' },
        { field: 'text', matches: '\\bpython[0-9.]*\\b.*\\bsocket\\b.*(?:pty\\.spawn|subprocess|os\\.dup2)' },
        { field: 'text', matches: '\\bphp[0-9.]*\\b.*\\bfsockopen\\s*\\(' },
        { field: 'text', matches: '\\bperl\\b.*\\bsocket\\b.*\\b(?:exec|open|system)\\b' },
        { field: 'text', matches: '\\bruby\\b.*(?:-rsocket|TCPSocket)' },
        { field: 'text', matches: '\\bsocat\\b.*\\b(?:exec|system):' },
      ],
    },
    description: 'bash -i >& /dev/tcp/…, exec 5<>/dev/tcp/…, nc -e, mkfifo pipes into nc, python/perl/ruby/php socket shells, socat exec. A plain `echo > /dev/tcp/host/port` (a port check) is not one.',
  },
  {
    id: 'crypto-miner',
    title: 'Cryptocurrency miner',
    severity: 'critical',
    sources: COMMAND_TEXT,
    match: { field: 'text', matches: '\\b(?:xmrig|xmr-stak|minerd|cpuminer|ccminer|kdevtmpfsi|kinsing)\\b|stratum\\+(?:tcp|ssl|tls)://|--donate-level\\b', flags: 'i' },
    description: 'Known miner names, stratum URLs and XMRig options in command lines, histories, logs or crontabs.',
  },
  {
    id: 'imds-credential-access',
    title: 'Instance role credentials read from the metadata service',
    severity: 'critical',
    sources: COMMAND_TEXT,
    match: {
      field: 'text',
      matches: '(?:169\\.254\\.169\\.254|\\[?fd00:ec2::254\\]?)(?::80)?/latest/meta-data/(?:iam/security-credentials|identity-credentials/ec2/security-credentials)',
      flags: 'i',
    },
    description: 'A person or a web shell fetched the role credentials (curl …/latest/meta-data/iam/security-credentials/<role>). SDKs read them too, but never from a shell or a URL parameter. cloud-init uses dated paths, not /latest/.',
  },
  {
    id: 'aws-iam-persistence-command',
    title: 'AWS CLI creating IAM users, keys or policies',
    severity: 'critical',
    sources: COMMAND_TEXT,
    match: {
      field: 'text',
      matches:
        '\\baws\\s+(?:--?[a-z-]+(?:[= ]\\S+)?\\s+)*iam\\s+(?:create-user|create-access-key|create-login-profile|update-login-profile|attach-(?:user|role|group)-policy|put-(?:user|role|group)-policy|update-assume-role-policy|add-user-to-group)\\b',
    },
    description: 'IAM persistence typed on the instance.',
  },
  {
    id: 'download-and-execute',
    title: 'Download piped to a shell, or a binary staged in a temp directory',
    severity: 'high',
    sources: COMMAND_TEXT,
    match: {
      any: [
        { field: 'text', matches: '\\b(?:curl|wget)\\b[^|;\\n]*\\|\\s*(?:sudo\\s+)?(?:ba|da|z)?sh\\b' },
        { field: 'text', matches: `\\b(?:curl|wget)\\b[^;|\\n]*\\s(?:-o|-O|--output|--output-document)[ =]?\\s*${TEMP_DIRS}` },
        { field: 'text', matches: `\\bchmod\\s+\\S+\\s+${TEMP_DIRS}` },
      ],
    },
    description: 'curl|sh, wget -O /tmp/…, chmod +x in /tmp, /var/tmp or /dev/shm.',
  },
  {
    id: 'history-tampering',
    title: 'Shell history disabled or cleared',
    severity: 'high',
    sources: COMMAND_TEXT,
    match: {
      any: [
        { field: 'text', matches: '\\bhistory\\s+-c\\b|\\bunset\\s+(?:-v\\s+)?HISTFILE\\b|\\bset\\s+\\+o\\s+history\\b' },
        { field: 'text', matches: '\\bHIST(?:FILE=/dev/null|SIZE=0|FILESIZE=0)\\b' },
        { field: 'text', matches: '\\bln\\s+-[a-z]*s[a-z]*\\s+/dev/null\\s+\\S*_history\\b' },
        { field: 'text', matches: '\\b(?:rm|shred|truncate)\\b[^;|&\\n]*\\.[a-z]*_history\\b' },
        { field: 'text', matches: '(?:^|[;&|]\\s*)(?::\\s*)?>\\s*\\S*\\.[a-z]*_history\\b' },
      ],
    },
    description: 'history -c, unset HISTFILE, HISTFILE=/dev/null, ln -s /dev/null ~/.bash_history, removing or truncating a history file.',
  },
  {
    id: 'log-tampering',
    title: 'Logs truncated or deleted by a command',
    severity: 'high',
    sources: COMMAND_TEXT,
    match: {
      any: [
        { field: 'text', matches: '(?:\\btruncate\\b[^;|&\\n]*|\\bshred\\b[^;|&\\n]*|\\brm\\b[^;|&\\n]*|\\bunlink\\s+|(?:^|[;&|]\\s*)(?::\\s*)?>\\s*|\\bcat\\s+/dev/null\\s*>\\s*|\\becho\\s*(?:""|\'\')?\\s*>\\s*)/var/log/' },
        { field: 'text', matches: '\\bjournalctl\\b[^;|&\\n]*--vacuum-' },
        { field: 'text', matches: '\\bfind\\s+/var/log\\b.*-(?:delete|exec\\s+(?:rm|truncate|shred))\\b' },
      ],
    },
    description: 'truncate -s 0 /var/log/…, > /var/log/…, rm or shred of logs, journalctl --vacuum-*. Also matches sudo COMMAND= lines in auth.log.',
  },
  {
    id: 'authorized-keys-write-command',
    title: 'Command appending to authorized_keys',
    severity: 'high',
    sources: COMMAND_TEXT,
    match: { field: 'text', matches: '>>?\\s*\\S*\\.ssh/authorized_keys2?\\b' },
    description: 'echo "ssh-… " >> ~/.ssh/authorized_keys: an SSH backdoor.',
  },
  {
    id: 'process-from-temp-dir',
    title: 'Process running from /tmp, /var/tmp or /dev/shm',
    severity: 'high',
    sources: ['volatile:processes', 'volatile:deleted-binaries'],
    match: { field: 'exe', matches: `^${TEMP_DIRS}` },
    description: 'World-writable directories are where droppers put their payloads.',
  },
  {
    id: 'process-deleted-binary',
    title: 'Process running a deleted binary',
    severity: 'high',
    sources: ['volatile:deleted-binaries'],
    match: { all: [{ field: 'deleted', equals: 'yes' }, { not: { field: 'exe', matches: '^/(?:usr/)?(?:s?bin|lib|lib64|libexec)/' } }] },
    description: 'The executable was removed after start (a miner or implant hiding). System binaries replaced by a package upgrade are left out.',
  },
  {
    id: 'rootkit-module',
    title: 'Known rootkit kernel module loaded',
    severity: 'critical',
    sources: ['volatile:kernel-modules'],
    match: { field: 'module', oneOf: ['diamorphine', 'reptile', 'reptile_module', 'suterusu', 'kovid', 'adore', 'knark', 'enyelkm', 'rkduck', 'singularity'] },
    description: 'LKM rootkits by their usual module names (a renamed module is not found this way).',
  },
  // --- files, persistence, accounts ---------------------------------------------------------
  {
    id: 'history-linked-to-dev-null',
    title: 'Shell history linked to /dev/null',
    severity: 'high',
    sources: HISTORY_LISTINGS,
    match: { all: [{ field: 'path', matches: HISTORY_FILE }, { field: 'link', equals: '/dev/null' }] },
    description: 'ln -sf /dev/null ~/.bash_history: history is thrown away.',
  },
  {
    id: 'history-empty',
    title: 'Empty shell history file',
    severity: 'medium',
    sources: HISTORY_LISTINGS,
    match: { all: [{ field: 'path', matches: HISTORY_FILE }, { field: 'type', equals: 'f' }, { field: 'size', equals: 0 }] },
    description: 'A history file that exists but is empty was usually truncated.',
  },
  {
    id: 'log-truncated',
    title: 'System log truncated to zero bytes',
    severity: 'high',
    sources: ['disk:listing'],
    match: {
      all: [
        { field: 'path', matches: '^/var/log/(?:auth\\.log|secure|syslog|messages|kern\\.log|wtmp|lastlog|audit/audit\\.log)$' },
        { field: 'type', equals: 'f' },
        { field: 'size', equals: 0 },
      ],
    },
    description: 'An empty auth.log, secure, syslog, messages, wtmp or audit.log. Right after rotation a log can be empty for a moment: check its mtime.',
  },
  {
    id: 'auth-log-missing',
    title: 'No authentication log on disk',
    severity: 'medium',
    sources: ['disk:listing'],
    when: 'absent',
    match: { field: 'path', matches: '^/var/log/(?:auth\\.log|secure)$' },
    description: 'Neither /var/log/auth.log nor /var/log/secure exists: deleted, or a journald-only system (Amazon Linux 2023 by default).',
  },
  {
    id: 'authorized-keys-changed',
    title: 'authorized_keys changed during the incident',
    severity: 'high',
    sources: ['disk:listing', 'volatile:authorized-keys'],
    match: { all: [{ field: 'path', matches: '/\\.ssh/authorized_keys2?$' }, { field: 'mtimeMs', withinWindow: 'exact' }] },
    description: 'A key added (or removed) while the attacker was active: an SSH backdoor.',
  },
  {
    id: 'persistence-changed',
    title: 'Persistence location changed during the incident',
    severity: 'high',
    sources: ['disk:listing', 'volatile:crontabs'],
    match: {
      all: [
        {
          field: 'path',
          matches:
            '^/(?:etc/(?:systemd/system|cron\\.(?:d|hourly|daily|weekly|monthly)|init\\.d|profile\\.d|rc\\.d|sudoers\\.d)/|etc/(?:crontab|anacrontab|rc\\.local|ld\\.so\\.preload|profile|bash\\.bashrc|bashrc|sudoers)$|var/spool/cron/|(?:usr/)?lib/systemd/system/|(?:root|home/[^/]+)/\\.(?:bashrc|profile|bash_profile|bash_login)$)',
        },
        { field: 'mtimeMs', withinWindow: 'exact' },
      ],
    },
    description: 'Cron, systemd units, rc.local, profile scripts, ld.so.preload or sudoers modified in the incident window.',
  },
  {
    id: 'ld-so-preload',
    title: '/etc/ld.so.preload present',
    severity: 'high',
    sources: ['disk:listing'],
    match: { all: [{ field: 'path', equals: '/etc/ld.so.preload' }, { field: 'size', atLeast: 1 }] },
    description: 'Preloaded libraries hook every process: a common userland rootkit technique; almost never used legitimately.',
  },
  {
    id: 'persistence-runs-from-temp',
    title: 'Cron job or service runs something from a temp directory',
    severity: 'high',
    sources: ['disk:cron', 'disk:persistence', 'volatile:crontabs'],
    match: { all: [{ field: 'text', matches: `(?:^|[\\s=;'"])${TEMP_DIRS}` }, { not: { field: 'text', matches: '^\\s*#' } }] },
    description: 'A scheduled or boot-time command that starts a program from /tmp, /var/tmp or /dev/shm.',
  },
  {
    id: 'hidden-temp-entry',
    title: 'Hidden directory or file in a temp directory',
    severity: 'medium',
    sources: ['disk:listing'],
    match: { field: 'path', matches: `^${TEMP_DIRS}(?:[^/]+/)*\\.(?!(?:ICE|X11|font|XIM|Test)-unix(?:/|$))[^/]+` },
    description: 'Droppers hide in /tmp/.x, /dev/shm/.cache… (the X11/ICE socket directories are left out).',
  },
  {
    id: 'web-script-in-upload-dir',
    title: 'Server-side script in a web upload directory',
    severity: 'critical',
    sources: WEB_LISTINGS,
    match: { all: [{ field: 'type', equals: 'f' }, { field: 'path', matches: WEB_SCRIPT_IN_UPLOADS, flags: 'i' }] },
    description: 'A .php/.phtml/.jsp… file where users upload files: a web shell.',
  },
  {
    id: 'web-file-changed-in-window',
    title: 'Web root file changed during the incident',
    severity: 'medium',
    sources: WEB_LISTINGS,
    match: { all: [{ field: 'type', equals: 'f' }, { field: 'mtimeMs', withinWindow: 'exact' }] },
    description: 'New or modified files under the web roots in the incident window (deployments also do this).',
  },
  {
    id: 'web-shell-request',
    title: 'Request to a script in an upload directory',
    severity: 'critical',
    sources: ['disk:logs', 'volatile:recent-logs'],
    match: { field: 'text', matches: `"(?:GET|POST|PUT|HEAD) [^" ?]*${UPLOAD_DIR}[^" ?]*${SCRIPT_EXT}(?:[?#; ]|")`, flags: 'i' },
    description: 'Access-log lines that run a script stored under uploads/: a web shell in use.',
  },
  {
    id: 'account-uid0-not-root',
    title: 'Account other than root with uid 0',
    severity: 'critical',
    sources: ['disk:accounts'],
    match: { all: [{ field: 'uid', equals: 0 }, { not: { field: 'user', equals: 'root' } }] },
    description: 'A second superuser account: a backdoor.',
  },
  {
    id: 'account-password-changed',
    title: 'Account password changed during the incident',
    severity: 'medium',
    sources: ['disk:accounts'],
    match: { field: 'lastChangeMs', withinWindow: 'day' },
    description: 'The shadow last-change day falls in the incident window (a new account, or a password set by the attacker).',
  },
  // --- CloudTrail -------------------------------------------------------------------------------
  {
    id: 'cloudtrail-iam-persistence',
    title: 'IAM persistence API call',
    severity: 'critical',
    sources: ['cloudtrail'],
    match: {
      all: [
        { field: 'eventSource', equals: 'iam.amazonaws.com' },
        { field: 'eventName', oneOf: ['CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile', 'AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy', 'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy', 'UpdateAssumeRolePolicy', 'AddUserToGroup'] },
      ],
    },
    description: 'New users, keys, console passwords or policies made with the instance credentials (failed attempts included).',
  },
  {
    id: 'cloudtrail-call-from-outside-aws',
    title: 'Instance credentials used from outside AWS',
    severity: 'high',
    sources: ['cloudtrail'],
    match: { all: [{ field: 'sourceIPAddress', publicIp: true }, { not: { field: 'sourceIPAddress', inSet: 'instanceAddresses' } }] },
    description: "A call whose source is a public IP that is not the instance's own address (an AWS service calling on its behalf shows a service name instead). Pass the instance's public and NAT addresses as instanceAddresses.",
  },
  {
    id: 'cloudtrail-known-bad-ip',
    title: 'API call from a known-bad IP',
    severity: 'critical',
    sources: ['cloudtrail'],
    match: { field: 'sourceIPAddress', inSet: 'knownBadIps' },
    description: 'The instance credentials were used from an address on the malicious-IP list.',
  },
];

// ---------------------------------------------------------------------------------------------
// IP helpers.
// ---------------------------------------------------------------------------------------------

/** An IP in one spelling: IPv4 dotted quad, IPv4-mapped IPv6 as IPv4, IPv6 lower case and compressed. */
export function canonicalIp(value: string): string | undefined {
  // Logs write `[addr]` and `addr%zone`; the address itself goes through sentinel's one IP module.
  return canonicalAddress(value.trim().replace(/^\[|\]$/g, '').replace(/%[A-Za-z0-9_.-]+$/, ''));
}

/** Neither private nor special (AWS's ranges are not the question here). */
export function isPublicIp(value: string): boolean {
  const ip = canonicalIp(value);
  return ip !== undefined && !checkProtectedDestination(ip, { awsRanges: null }).protected;
}

const IPV4_TOKEN = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
const IPV6_TOKEN = /(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])/g;

/** Every IP address written in a line (canonical, deduplicated). */
export function ipsIn(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(IPV4_TOKEN)) {
    const ip = canonicalIp(m[0]);
    if (ip) found.add(ip);
  }
  if (text.includes('::') || /[0-9a-f]{1,4}:[0-9a-f]{1,4}:/i.test(text)) {
    for (const m of text.matchAll(IPV6_TOKEN)) {
      const ip = canonicalIp(m[0]);
      if (ip && ip.includes(':')) found.add(ip);
    }
  }
  return [...found];
}

// ---------------------------------------------------------------------------------------------
// Parsers: artifact text → records.
// ---------------------------------------------------------------------------------------------

export type FieldValue = string | number | readonly string[] | undefined;

export interface ArtifactRecord {
  /** 1-based line number, or event number for JSON artifacts. */
  n: number;
  fields: Readonly<Record<string, FieldValue>>;
  /** What to show as evidence (the raw line, or an event summary). */
  excerpt: string;
}

export interface ParsedArtifact {
  unit: 'line' | 'event';
  records: ArtifactRecord[];
  /** Lines or events that could not be read. */
  problems: string[];
}

export interface ParseOptions {
  /** A time near the collection (ms), to place `ls -l` dates without a year. Now when absent. */
  referenceTimeMs?: number;
}

/** Longest text a regular expression is run on; longer values are cut (ReDoS and memory bound). */
export const MAX_MATCH_CHARS = 16_384;

type Format = 'ps' | 'ss' | 'lsmod' | 'proc-exe' | 'find-simple' | 'listing' | 'accounts' | 'cloudtrail' | 'text' | 'text-decoded' | 'container';

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

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** `ls -l` time: `May 21 14:12` (this year, or last year when that would be in the future) or `Mar  2  2024`. UTC. */
function lsTime(month: string, day: string, timeOrYear: string, referenceMs: number): number | undefined {
  const m = MONTHS[month];
  if (m === undefined) return undefined;
  if (/^\d{4}$/.test(timeOrYear)) return Date.UTC(Number(timeOrYear), m, Number(day));
  const [hh, mm] = timeOrYear.split(':').map(Number) as [number, number];
  const year = new Date(referenceMs).getUTCFullYear();
  const t = Date.UTC(year, m, Number(day), hh, mm);
  // ls shows the time (not the year) only for files under six months old.
  return t > referenceMs + 2 * 86_400_000 ? Date.UTC(year - 1, m, Number(day), hh, mm) : t;
}

const LS_LINE = /^([-dlcbps])([rwxsStT-]{9})[.+@]?\s+\d+\s+(\S+)\s+(\S+)\s+(\d+)\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s+(.+)$/;
const LS_TYPE: Readonly<Record<string, string>> = { '-': 'f', d: 'd', l: 'l', c: 'c', b: 'b', p: 'p', s: 's' };

function lsFields(line: string, referenceMs: number): Record<string, FieldValue> | undefined {
  const m = LS_LINE.exec(line);
  if (!m) return undefined;
  const type = LS_TYPE[m[1]!] ?? '?';
  let path = m[9]!;
  let link: string | undefined;
  if (type === 'l') {
    const at = path.indexOf(' -> ');
    if (at >= 0) {
      link = path.slice(at + 4);
      path = path.slice(0, at);
    }
  }
  return { path, size: Number(m[5]), mtimeMs: lsTime(m[6]!, m[7]!, m[8]!, referenceMs), type, link, mode: `${m[1]}${m[2]}` };
}

/** Percent-decoding as a web server would (`+` as space); undecodable sequences stay as they are. */
function urlDecode(line: string): string {
  if (!line.includes('%') && !line.includes('+')) return line;
  const plus = line.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/(?:%[0-9A-Fa-f]{2})+/g, (seq) => {
      try {
        return decodeURIComponent(seq);
      } catch {
        return seq;
      }
    });
  }
}

const SECTION = /^(?:===== (.+?)|==> (.+) <==)$/;
const SYMLINK_SECTION = /^(\S+) -> (.+?) \(symlink, not followed\)$/;

function parseText(text: string, decode: boolean, referenceMs: number): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  let file: string | undefined;
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const cut = line.slice(0, MAX_MATCH_CHARS);
    const section = SECTION.exec(line);
    if (section) {
      const title = (section[1] ?? section[2] ?? '').trim();
      const symlink = SYMLINK_SECTION.exec(title);
      file = symlink ? symlink[1] : title;
      records.push({ n: i + 1, excerpt: line, fields: { line: cut, text: cut, file, ...(symlink ? { path: symlink[1], type: 'l', link: symlink[2] } : {}) } });
      return;
    }
    const decoded = decode ? urlDecode(cut) : cut;
    records.push({ n: i + 1, excerpt: line, fields: { line: cut, text: decoded, ips: ipsIn(decoded), file, ...(lsFields(line, referenceMs) ?? {}) } });
  });
  return { unit: 'line', records, problems: [] };
}

const PS_LSTART = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\s?(.*)$/;

function exeOf(args: string): string {
  return args.trim().split(/\s+/)[0] ?? '';
}

function parsePs(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  let columns: string[] | undefined;
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const lstart = PS_LSTART.exec(line);
    if (lstart) {
      const args = lstart[11] ?? '';
      const cut = args.slice(0, MAX_MATCH_CHARS);
      const startedMs = Date.UTC(Number(lstart[10]), MONTHS[lstart[5]!] ?? 0, Number(lstart[6]), Number(lstart[7]), Number(lstart[8]), Number(lstart[9]));
      records.push({ n: i + 1, excerpt: line, fields: { line: line.slice(0, MAX_MATCH_CHARS), pid: Number(lstart[1]), ppid: Number(lstart[2]), user: lstart[3], startedMs, args: cut, exe: exeOf(args), text: cut, ips: ipsIn(cut) } });
      return;
    }
    const words = line.trim().split(/\s+/);
    if (!columns && words.includes('PID') && /^(?:COMMAND|CMD|ARGS)$/.test(words[words.length - 1] ?? '')) {
      columns = words;
      return;
    }
    if (columns) {
      // Every column but the last is one word; the last (the command line) takes the rest.
      const head = columns.length - 1;
      const parts = line.trim().split(/\s+/);
      const args = parts.slice(head).join(' ');
      const cut = args.slice(0, MAX_MATCH_CHARS);
      const col = (name: string) => {
        const at = columns!.indexOf(name);
        return at >= 0 && at < head ? parts[at] : undefined;
      };
      records.push({ n: i + 1, excerpt: line, fields: { line: line.slice(0, MAX_MATCH_CHARS), pid: Number(col('PID')), ppid: col('PPID') === undefined ? undefined : Number(col('PPID')), user: col('USER'), args: cut, exe: exeOf(args), text: cut, ips: ipsIn(cut) } });
      return;
    }
    problems.push(`line ${i + 1}: not a ps line`);
  });
  return { unit: 'line', records, problems };
}

/** `10.0.2.15:22`, `[::ffff:10.0.2.15]:80`, `*:22`, `[::]:22`, `10.0.2.15%eth0:68`, `:::22`. */
function splitAddress(value: string): { ip: string | undefined; port: number | undefined } {
  const at = value.lastIndexOf(':');
  if (at < 0) return { ip: undefined, port: undefined };
  const host = value.slice(0, at);
  const port = value.slice(at + 1);
  return { ip: host === '*' ? '*' : canonicalIp(host), port: /^\d+$/.test(port) ? Number(port) : undefined };
}

const NETIDS = /^(?:tcp|udp|raw|u_str|u_dgr|u_seq|p_raw|p_dgr|nl|mptcp|sctp)$/;

function parseSs(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || /^(?:Netid|State)\s/.test(line)) return;
    const f = line.trim().split(/\s+/);
    const shift = NETIDS.test(f[0] ?? '') ? 1 : 0;
    const [state, recvQ, sendQ, local, peer] = f.slice(shift);
    if (!state || !local || !peer || !/^\d+$/.test(recvQ ?? '') || !/^\d+$/.test(sendQ ?? '')) {
      problems.push(`line ${i + 1}: not an ss line`);
      return;
    }
    const rest = f.slice(shift + 5).join(' ');
    const l = splitAddress(local);
    const p = splitAddress(peer);
    const processes = [...rest.matchAll(/\("([^"]*)",pid=\d+/g)].map((m) => m[1]!);
    records.push({
      n: i + 1,
      excerpt: line,
      fields: { line: line.slice(0, MAX_MATCH_CHARS), state, localIp: l.ip, localPort: l.port, peerIp: p.ip, peerPort: p.port, processes: [...new Set(processes)], ips: p.ip && p.ip !== '*' ? [p.ip] : [] },
    });
  });
  return { unit: 'line', records, problems };
}

function parseLsmod(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  splitLines(text).forEach((line, i) => {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s*(\S*)$/.exec(line.trim());
    if (!m || m[1] === 'Module') return;
    records.push({ n: i + 1, excerpt: line, fields: { line, module: m[1], size: Number(m[2]), usedBy: m[4] ?? '' } });
  });
  return { unit: 'line', records, problems: [] };
}

const PROC_EXE = /^\S+\s+\d+\s+(\S+)\s+\S+\s+\d+\s+.*?\s\/proc\/(\d+)\/exe -> (.*)$/;

function parseProcExe(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = PROC_EXE.exec(line);
    if (!m) {
      problems.push(`line ${i + 1}: not an ls -l /proc/<pid>/exe line`);
      return;
    }
    const target = m[3]!;
    const deleted = target.endsWith(' (deleted)');
    records.push({ n: i + 1, excerpt: line, fields: { line, pid: Number(m[2]), user: m[1], exe: deleted ? target.slice(0, -' (deleted)'.length) : target, deleted: deleted ? 'yes' : 'no' } });
  });
  return { unit: 'line', records, problems };
}

function parseFindSimple(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('sentinel:')) return;
    const m = /^(\d+)(?:\.(\d+))? (\d+) ([0-7]{1,4}) (\S+) (\/.*)$/.exec(line);
    if (!m) {
      problems.push(`line ${i + 1}: not a find -printf '%T@ %s %m %u %p' line`);
      return;
    }
    const mtimeMs = Math.round(Number(`${m[1]}.${m[2] ?? '0'}`) * 1000);
    records.push({ n: i + 1, excerpt: line, fields: { line, mtimeMs, size: Number(m[3]), mode: m[4], user: m[5], path: m[6], type: 'f' } });
  });
  return { unit: 'line', records, problems };
}

function parseListing(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split('\t');
    if (f.length < 8 || !/^\d+(?:\.\d+)?$/.test(f[0]!) || !/^\d+$/.test(f[5]!)) {
      problems.push(`line ${i + 1}: not a listing line (mtime, type, mode, uid, gid, size, path, link; tab-separated)`);
      return;
    }
    const link = f[f.length - 1]!;
    const path = f.slice(6, -1).join('\t');
    records.push({
      n: i + 1,
      excerpt: line.replace(/\t/g, ' '),
      fields: { line: line.slice(0, MAX_MATCH_CHARS), mtimeMs: Math.round(Number(f[0]) * 1000), type: f[1], mode: f[2], uid: f[3], gid: f[4], size: Number(f[5]), path, link: link === '' ? undefined : link },
    });
  });
  return { unit: 'line', records, problems };
}

function parseAccounts(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split('\t');
    if (f.length < 6 || !/^\d+$/.test(f[1]!)) {
      problems.push(`line ${i + 1}: not an accounts line (user, uid, gid, shell, password state, last change)`);
      return;
    }
    const days = f[5]!;
    records.push({
      n: i + 1,
      excerpt: line.replace(/\t/g, ' '),
      fields: { line, user: f[0], uid: Number(f[1]), gid: f[2], shell: f[3], password: f[4], lastChangeMs: /^\d+$/.test(days) && Number(days) > 0 ? Number(days) * 86_400_000 : undefined },
    });
  });
  return { unit: 'line', records, problems };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parseCloudTrail(text: string): ParsedArtifact {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { unit: 'event', records: [], problems: [`not JSON: ${(err as Error).message}`] };
  }
  const d = doc as Record<string, unknown>;
  const list = Array.isArray(doc) ? doc : Array.isArray(d?.events) ? d.events : Array.isArray(d?.Events) ? d.Events : Array.isArray(d?.Records) ? d.Records : undefined;
  if (!list) return { unit: 'event', records: [], problems: ['no events, Events or Records array'] };
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  (list as unknown[]).forEach((item, i) => {
    const outer = (item ?? {}) as Record<string, unknown>;
    let ev: Record<string, unknown> = outer;
    if (typeof outer.CloudTrailEvent === 'string') {
      try {
        ev = { ...(JSON.parse(outer.CloudTrailEvent) as Record<string, unknown>) };
      } catch {
        problems.push(`event ${i + 1}: CloudTrailEvent is not JSON`);
      }
    }
    const identity = (ev.userIdentity ?? {}) as Record<string, unknown>;
    const eventName = str(ev.eventName) ?? str(outer.EventName);
    const eventSource = str(ev.eventSource) ?? str(outer.EventSource);
    const time = str(ev.eventTime) ?? (outer.EventTime instanceof Date ? outer.EventTime.toISOString() : str(outer.EventTime));
    const source = str(ev.sourceIPAddress);
    const ip = source ? canonicalIp(source) : undefined;
    const userAgent = str(ev.userAgent);
    const fields: Record<string, FieldValue> = {
      eventId: str(ev.eventID) ?? str(outer.EventId),
      eventName,
      eventSource,
      eventTimeMs: time ? Date.parse(time) : undefined,
      sourceIPAddress: ip ?? source,
      userAgent,
      accessKeyId: str(identity.accessKeyId) ?? str(outer.AccessKeyId),
      userArn: str(identity.arn),
      userType: str(identity.type),
      userName: str(outer.Username) ?? str(identity.userName),
      errorCode: str(ev.errorCode),
      region: str(ev.awsRegion),
      ips: ip ? [ip] : [],
    };
    const excerpt = `${time ?? '?'} ${eventSource ?? '?'} ${eventName ?? '?'} from ${source ?? '?'}${fields.errorCode ? ` (${String(fields.errorCode)})` : ''}${userAgent ? ` ua=${userAgent}` : ''}`;
    records.push({ n: i + 1, excerpt, fields });
  });
  return { unit: 'event', records, problems };
}

/** Reads an artifact's text into records for the rules. `disk:bundle` is a container, not parsed here. */
export function parseArtifact(kind: ArtifactKind, text: string, options: ParseOptions = {}): ParsedArtifact {
  const referenceMs = options.referenceTimeMs ?? Date.now();
  switch (ARTIFACT_FORMATS[kind]) {
    case 'ps':
      return parsePs(text);
    case 'ss':
      return parseSs(text);
    case 'lsmod':
      return parseLsmod(text);
    case 'proc-exe':
      return parseProcExe(text);
    case 'find-simple':
      return parseFindSimple(text);
    case 'listing':
      return parseListing(text);
    case 'accounts':
      return parseAccounts(text);
    case 'cloudtrail':
      return parseCloudTrail(text);
    case 'text':
      return parseText(text, false, referenceMs);
    case 'text-decoded':
      return parseText(text, true, referenceMs);
    case 'container':
      throw new Error(`${kind} is a container: unpack it and parse its members`);
  }
}

// ---------------------------------------------------------------------------------------------
// The engine.
// ---------------------------------------------------------------------------------------------

export interface MatchContext {
  sets: Partial<Record<SetName, ReadonlySet<string>>>;
  window?: { sinceMs: number; untilMs: number };
}

export interface MatchContextInput {
  knownBadIps?: readonly string[];
  findingRemoteIp?: string;
  instanceAddresses?: readonly string[];
  window?: { since: string | Date; until: string | Date };
}

function ipSet(values: readonly (string | undefined)[]): Set<string> {
  return new Set(values.map((v) => (v ? canonicalIp(v) : undefined)).filter((v): v is string => v !== undefined));
}

/** The sets and window for one analysis. The finding's remote IP counts as known bad too. */
export function buildMatchContext(input: MatchContextInput): MatchContext {
  const window = input.window ? { sinceMs: new Date(input.window.since).getTime(), untilMs: new Date(input.window.until).getTime() } : undefined;
  return {
    sets: {
      knownBadIps: ipSet([...(input.knownBadIps ?? []), input.findingRemoteIp]),
      findingRemoteIp: ipSet([input.findingRemoteIp]),
      instanceAddresses: ipSet(input.instanceAddresses ?? []),
    },
    ...(window ? { window } : {}),
  };
}

const compiled = new WeakMap<object, RegExp>();

function regexOf(c: { matches: string; flags?: string }): RegExp {
  let re = compiled.get(c);
  if (!re) {
    re = new RegExp(c.matches, (c.flags ?? '').replace(/[gy]/g, ''));
    compiled.set(c, re);
  }
  return re;
}

function values(v: FieldValue): (string | number)[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? [...(v as readonly string[])] : [v as string | number];
}

const DAY = 86_400_000;

/** Whether one record satisfies a condition. */
export function evaluate(c: Condition, fields: Readonly<Record<string, FieldValue>>, ctx: MatchContext): boolean {
  if ('not' in c) return !evaluate(c.not, fields, ctx);
  if ('all' in c) return c.all.every((x) => evaluate(x, fields, ctx));
  if ('any' in c) return c.any.some((x) => evaluate(x, fields, ctx));
  const vs = values(fields[c.field]);
  if ('matches' in c) {
    const re = regexOf(c);
    return vs.some((v) => re.test(String(v).slice(0, MAX_MATCH_CHARS)));
  }
  if ('equals' in c) return vs.some((v) => v === c.equals);
  if ('oneOf' in c) return vs.some((v) => c.oneOf.includes(v));
  if ('inSet' in c) {
    const set = ctx.sets[c.inSet];
    return !!set && vs.some((v) => {
      const ip = canonicalIp(String(v));
      return ip !== undefined && set.has(ip);
    });
  }
  if ('withinWindow' in c) {
    const w = ctx.window;
    if (!w) return false;
    return vs.some((v) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (c.withinWindow === 'day') return Math.floor(v / DAY) >= Math.floor(w.sinceMs / DAY) && Math.floor(v / DAY) <= Math.floor(w.untilMs / DAY);
      return v >= w.sinceMs && v <= w.untilMs;
    });
  }
  if ('atLeast' in c) return vs.some((v) => typeof v === 'number' && v >= c.atLeast);
  if ('publicIp' in c) return vs.some((v) => isPublicIp(String(v)));
  return false;
}

export interface RuleMatch {
  rule: AnalysisRule;
  /** The matching records (empty for an `absent` rule). */
  records: ArtifactRecord[];
}

/** Applies every rule that reads `kind` to one parsed artifact. */
export function applyRules(kind: ArtifactKind, parsed: ParsedArtifact, ctx: MatchContext, rules: readonly AnalysisRule[] = ANALYSIS_RULES): RuleMatch[] {
  const out: RuleMatch[] = [];
  for (const rule of rules) {
    if (!rule.sources.includes(kind)) continue;
    const records = parsed.records.filter((r) => evaluate(rule.match, r.fields, ctx));
    if ((rule.when ?? 'present') === 'absent') {
      if (records.length === 0) out.push({ rule, records: [] });
    } else if (records.length) {
      out.push({ rule, records });
    }
  }
  return out;
}

/** Every field name a condition reads. */
export function conditionFields(c: Condition): string[] {
  if ('not' in c) return conditionFields(c.not);
  if ('all' in c) return c.all.flatMap(conditionFields);
  if ('any' in c) return c.any.flatMap(conditionFields);
  return [c.field];
}
