import { existsSync } from 'node:fs';
import dotenv from 'dotenv';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { cidrSchema } from './pipeline/net/ipAddress.js';

/**
 * The one place that reads the environment. Every setting is declared here with
 * its zod schema and what it expects; `loadConfig` validates them all at once
 * and returns a frozen, typed object. Nothing else reads `process.env`.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const snowflake = z.string().regex(/^\d{17,20}$/, 'a Discord id (17 to 20 digits)');
const url = z.url();
const posInt = z.coerce.number().int().positive();
const iamRoleArn = z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/, 'an IAM role ARN');
/** Names provisioned resources: `<prefix>-intake`, `<prefix>-falco-incident`, `<prefix>-evidence-<account>-<region>`… */
export const provisionPrefix = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/, 'lower-case letters, digits and hyphens, 1 to 32 characters, starting with a letter and not ending with a hyphen');
const sfnArn = z.string().regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/, 'a state machine ARN');
const absPath = z.string().regex(/^\/[^\0]*$/, 'an absolute path').refine((p) => !p.split('/').includes('..'), 'no .. segments');
/** A CIDR in its canonical form (sentinel's one IP module, src/pipeline/net/ipAddress.ts). */
const cidr = cidrSchema;

interface Setting {
  schema: z.ZodType;
  expects: string;
  default?: string;
}

/** Every setting sentinel reads. `.env.example` documents each of these (a test checks it). */
export const SETTINGS = {
  SENTINEL_LOG_LEVEL: { schema: z.enum(['error', 'warn', 'info', 'debug']), expects: 'one of error, warn, info, debug', default: 'info' },
  SENTINEL_LOG_FORMAT: { schema: z.enum(['json', 'pretty', 'auto']), expects: 'json, pretty or auto (pretty on a terminal)', default: 'json' },
  SENTINEL_PLAYBOOKS: { schema: z.string().min(1), expects: 'path to the playbook config (YAML, or JSON for a .json file); built-in defaults when unset' },
  SENTINEL_DATA_DIR: { schema: z.string().min(1), expects: 'directory for local state (approval store, embedded evidence)', default: './var' },

  DISCORD_TOKEN: { schema: z.string().min(20), expects: 'the bot token from the Discord developer portal' },
  DISCORD_APPLICATION_ID: { schema: snowflake, expects: 'the application id (17 to 20 digits)' },
  DISCORD_GUILD_ID: { schema: snowflake, expects: 'the server (guild) id (17 to 20 digits)' },
  DISCORD_CHANNEL_ID: { schema: snowflake, expects: 'the incident channel id (17 to 20 digits)' },
  DISCORD_RESPONDER_ROLE_IDS: { schema: list.pipe(z.array(snowflake).min(1)), expects: 'comma-separated role ids allowed to decide and run commands' },
  DISCORD_API_URL: { schema: url, expects: 'Discord REST base URL', default: 'https://discord.com/api' },

  AWS_REGION: { schema: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as ap-northeast-2'), expects: 'an AWS region such as ap-northeast-2' },
  AWS_ENDPOINT_URL: { schema: url, expects: 'an endpoint URL for every AWS service (an emulator or a proxy); unset for AWS itself' },
  AWS_ACCESS_KEY_ID: { schema: z.string().min(1), expects: 'an access key id; unset to use the default credential chain' },
  AWS_SECRET_ACCESS_KEY: { schema: z.string().min(1), expects: 'the secret for AWS_ACCESS_KEY_ID' },
  AWS_SESSION_TOKEN: { schema: z.string().min(1), expects: 'a session token for temporary credentials' },

  SENTINEL_QUEUE_URL: { schema: url, expects: 'URL of the intake queue (Falco and GuardDuty events only)' },
  SENTINEL_CONTROL_QUEUE_URL: { schema: url, expects: 'URL of the control queue (playbook steps, approval requests, reports), which only the state machines may send to' },
  SENTINEL_SFN_ROLE_ID: {
    schema: z.string().regex(/^AROA[A-Z0-9]{12,124}$/, 'an IAM role unique id (AROA...)'),
    expects: 'unique id (AROA...) of the state machines\' role: control messages from any other sender are refused (CloudFormation output StateMachineRoleId)',
  },
  SENTINEL_EVIDENCE_BUCKET: { schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'), expects: 'S3 bucket for evidence and incident records' },

  SENTINEL_KUBECONFIG: { schema: z.string().min(1), expects: 'path to a kubeconfig; in-cluster or ~/.kube/config when unset' },
  SENTINEL_COLLECTOR: { schema: z.string().min(1).max(64), expects: 'name recorded as the collector of evidence', default: 'sentinel' },
  SENTINEL_EXTRACT_MAX_BYTES: { schema: posInt, expects: 'largest file to extract from a pod, in bytes', default: String(100 * 1024 * 1024) },
  SENTINEL_QUARANTINE_DIR: { schema: absPath, expects: 'absolute directory inside the pod that quarantined files move to (sentinel creates it mode 700; keep it out of world-writable directories)', default: '/var/lib/sentinel-quarantine' },
  SENTINEL_QUARANTINE_ROOTS: { schema: list.pipe(z.array(absPath).min(1)), expects: 'comma-separated absolute directories whose files may be quarantined', default: '/var/www,/srv,/tmp,/var/tmp,/app,/home,/opt' },
  SENTINEL_NACL_ID: { schema: z.string().regex(/^acl-[0-9a-f]{8,17}$/, 'a network ACL id'), expects: 'a network ACL id (acl-...) to use instead of the node subnet\'s' },
  SENTINEL_NACL_MAX_RULES: { schema: z.coerce.number().int().min(1).max(40), expects: 'egress rules a network ACL may hold (AWS quota, 20 by default)', default: '20' },
  SENTINEL_EGRESS_ALLOWLIST: { schema: list.pipe(z.array(cidr)), expects: 'comma-separated CIDRs that must never be blocked', default: '' },
  SENTINEL_NACL_HEADROOM: {
    schema: z.coerce.number().int().min(0).max(39),
    expects: 'rules short of SENTINEL_NACL_MAX_RULES at which automatic blocks stop and ask a responder (0-39)',
    default: '2',
  },
  SENTINEL_EGRESS_BACKEND: {
    schema: z.enum(['nacl', 'cilium', 'calico']),
    expects:
      'where deny-egress blocks: nacl (a network ACL rule in the node subnet\'s ACL, at most SENTINEL_NACL_MAX_RULES), cilium (a CiliumClusterwideNetworkPolicy egress deny, Cilium 1.16+) or calico (a GlobalNetworkPolicy in tier sentinel, projectcalico.org/v3)',
    default: 'nacl',
  },
  SENTINEL_BLOCK_TTL_HOURS: { schema: z.coerce.number().int().min(1).max(8760), expects: 'hours an egress block lasts before the sweeper lifts it (1-8760)', default: '24' },
  SENTINEL_BLOCK_SWEEP_SECONDS: { schema: z.coerce.number().int().min(5).max(86_400), expects: 'seconds between sweeps that lift expired egress blocks', default: '60' },
  SENTINEL_AUTO_CONTAINMENT_CAP: {
    schema: z.coerce.number().int().min(0).max(10_000),
    expects: 'automatic blocks and isolations (playbook steps, not people) allowed per window; past it the playbook asks a responder (0: always ask)',
    default: '10',
  },
  SENTINEL_AUTO_CONTAINMENT_WINDOW_MINUTES: { schema: z.coerce.number().int().min(1).max(10_080), expects: 'minutes of the sliding window the automatic containment cap counts', default: '60' },
  SENTINEL_AWS_IP_RANGES_URL: {
    // HTTPS only: whoever could change the document could make their own addresses unblockable.
    schema: url.refine((u) => u.startsWith('https://'), 'an https:// URL'),
    expects: "https URL AWS's published ranges (ip-ranges.json) are fetched from; a bundled copy is the fallback",
    default: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
  },
  SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: {
    schema: z.coerce.number().int().min(0).max(10_080),
    expects: 'minutes between refreshes of AWS\'s ranges (0: never fetch; use the bundled or last good copy)',
    default: '720',
  },
  SENTINEL_AWS_IP_RANGES_BLOCKABLE_SERVICES: {
    schema: list.pipe(z.array(z.string().regex(/^[A-Z0-9_]{2,64}$/, 'an ip-ranges.json service name such as EC2'))),
    expects: "comma-separated ip-ranges.json services whose addresses may still be blocked (EC2: customers' instances, where an attacker's server can run); every other AWS range is protected",
    default: 'EC2',
  },
  SENTINEL_ISOLATION_SG_ID: { schema: z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id'), expects: 'the isolation security group (no rules); one is created per VPC when unset' },
  SENTINEL_ISOLATE_STOP_INSTANCE: { schema: bool, expects: 'true to stop an isolated instance (destroys memory)', default: 'false' },
  SENTINEL_PROTECTED_TAG: { schema: z.string().min(1).max(128), expects: 'EC2 tag key that marks instances sentinel must never touch', default: 'sentinel:protected' },
  SENTINEL_PROTECTED_NAMESPACES: { schema: list, expects: 'comma-separated namespaces whose pods sentinel never acts on (system namespaces always are)', default: '' },
  SENTINEL_CORDON_ON_POD_ISOLATE: { schema: bool, expects: 'true to cordon the node when isolating a pod', default: 'false' },
  SENTINEL_ISOLATE_POD_ALLOW_DNS: { schema: bool, expects: 'true to keep cluster DNS (kube-dns pods in kube-system, port 53) open from an isolated pod unless the step says otherwise', default: 'true' },
  SENTINEL_PROTECTED_NODE_LABELS: {
    schema: list.pipe(z.array(z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)?$/, 'a node label key, or key=value'))),
    expects: 'comma-separated node labels (key, or key=value) that mark nodes drain-node refuses (the annotation sentinel.io/protected=true always does)',
    default: 'sentinel.io/protected=true,node-role.kubernetes.io/control-plane',
  },
  SENTINEL_CAPTURE_IMAGE: {
    schema: z.string().regex(/^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/, 'a container image reference (pin a tag or a digest)'),
    expects: 'image of the ephemeral container capture-network adds to a pod; it needs tcpdump and timeout (pin it by digest in production)',
    default: 'nicolaka/netshoot:v0.13',
  },

  SENTINEL_STATE_MACHINE_FALCO: { schema: sfnArn, expects: 'ARN of the Falco incident state machine' },
  SENTINEL_STATE_MACHINE_FORENSICS: { schema: sfnArn, expects: 'ARN of the EC2 forensics state machine' },
  SENTINEL_STATE_MACHINE_NOTIFY: { schema: sfnArn, expects: 'ARN of the notify state machine (alerts are posted directly when unset)' },
  SENTINEL_STATE_MACHINE_POD: { schema: sfnArn, expects: 'ARN of the pod containment state machine (route contain-pod: GuardDuty EKS findings in a pod)' },
  SENTINEL_STORM_WINDOW_SECONDS: { schema: z.coerce.number().int().min(1).max(86_400), expects: 'seconds during which repeats of one incident are only counted (a file-artifact repeat also has its file contained again)', default: '600' },
  SENTINEL_PREFLIGHT_DEADLINE_SECONDS: {
    schema: z.coerce.number().min(0.5).max(60),
    expects: 'seconds an approval waits for its preflight (the proposed action\'s dry run) before it is posted without its plan; the plan is added when the preflight answers',
    default: '2',
  },
  SENTINEL_RECONTAIN_INTERVAL_SECONDS: {
    schema: z.coerce.number().min(0).max(3600),
    expects: 'least seconds between two runs that contain a file-artifact incident\'s file again for its repeats (repeats meanwhile are folded into the next run; 0: back to back)',
    default: '5',
  },
  SENTINEL_EDIT_INTERVAL_SECONDS: { schema: z.coerce.number().min(1).max(3600), expects: 'least seconds between counter and status edits of one message', default: '5' },
  SENTINEL_DISCORD_CHANNEL_BUDGET: {
    schema: z.coerce.number().int().min(1).max(50),
    expects: 'Discord writes (posts, edits, threads) sentinel makes in one channel in any 5 seconds, shared by every message in it, approvals first (Discord allows 5)',
    default: '4',
  },
  SENTINEL_DIGEST_THRESHOLD: {
    schema: z.coerce.number().int().min(1).max(10_000),
    expects: 'new incident messages waiting for the channel at once before new incidents are grouped into digest messages per rule and target class (storm mode)',
    default: '8',
  },
  SENTINEL_AGGREGATE_EVENTS: {
    schema: z.enum(['exact', 'counters']),
    expects: 'exact (every distinct event is its own incident) or counters (events that differ only in the numbers of their text fields count as repeats of one incident; a different target, IoC, file, route or plan never does)',
    default: 'exact',
  },
  SENTINEL_MODE: {
    schema: z.enum(['enforce', 'observe']),
    expects: 'enforce (actions change things) or observe (every action, in playbooks and commands, is a dry run that shows its plan: the first step of a roll-out)',
    default: 'enforce',
  },
  SENTINEL_STEP_HEARTBEAT_SECONDS: { schema: z.coerce.number().int().min(3).max(3600), expects: 'HeartbeatSeconds of long playbook steps: a bot that stops heartbeating fails the step within this many seconds', default: '120' },
  SENTINEL_APPROVAL_STORE: { schema: z.enum(['file', 's3']), expects: 'file (default, under SENTINEL_DATA_DIR) or s3 (shared by replicas, in the evidence bucket)', default: 'file' },
  SENTINEL_APPROVAL_TIMEOUT_SECONDS: { schema: z.coerce.number().int().min(60).max(604_800), expects: 'seconds an approval waits for a decision', default: '3600' },
  SENTINEL_APPROVAL_DEFAULT_DECISION: { schema: z.enum(['allow', 'block']), expects: 'allow or block: what a playbook does when nobody answers an approval in time', default: 'allow' },
  SENTINEL_TWO_PERSON_ACTIONS: { schema: list, expects: 'comma-separated action ids that need two different responders, in playbook approvals and slash commands alike (e.g. isolate-node,isolate-pod); sentinel start refuses an id that is not an action', default: '' },
  SENTINEL_HTTP_PORT: { schema: z.coerce.number().int().min(0).max(65_535), expects: 'port for /healthz, /readyz and /metrics (0 picks a free one)', default: '8080' },
  SENTINEL_HTTP_HOST: { schema: z.string().min(1), expects: 'address the health and metrics server listens on', default: '0.0.0.0' },
  SENTINEL_METRICS_TOKEN: {
    schema: z.string().regex(/^[A-Za-z0-9._~+/=-]{16,512}$/, '16 to 512 token characters (letters, digits, . _ ~ + / = -)'),
    expects: 'bearer token /metrics requires (Authorization: Bearer <token>); unset, /metrics answers loopback clients only',
  },
  SENTINEL_SQS_BATCH_SIZE: { schema: z.coerce.number().int().min(1).max(10), expects: 'messages asked for in one SQS receive (1-10)', default: '10' },
  SENTINEL_HEAP_GROWING_PERCENT: {
    schema: z.coerce.number().int().min(0).max(1000),
    expects: "how far V8's heap may grow past what is live, in percent (0: V8's own factor)",
    default: '10',
  },
  SENTINEL_STARTUP_GC_SECONDS: {
    schema: z.coerce.number().int().min(0).max(3600),
    expects: "collections that give back what start-up left: one before the first message, and one this many seconds after start-up when the first AWS ranges refresh fetched a copy and the bot is quiet (0: neither; V8's own reducer does it later)",
    default: '20',
  },
  SENTINEL_SQS_CONCURRENCY: { schema: z.coerce.number().int().min(1).max(1000), expects: 'messages of one queue handled at once (1-1000)', default: '100' },
  SENTINEL_SQS_VISIBILITY_SECONDS: { schema: z.coerce.number().int().min(10).max(43_200), expects: 'visibility timeout kept on a message while it is handled', default: '60' },
  SENTINEL_SQS_WAIT_SECONDS: { schema: z.coerce.number().int().min(0).max(20), expects: 'SQS long-poll wait (0-20 s)', default: '20' },
  SENTINEL_WEBHOOK_PORT: { schema: z.coerce.number().int().min(0).max(65_535), expects: "port of the event webhook (POST /falco, /events; Falcosidekick's webhook output); 0 picks a free one", default: '8081' },
  SENTINEL_WEBHOOK_HOST: { schema: z.string().min(1), expects: 'address the event webhook listens on', default: '0.0.0.0' },
  SENTINEL_WEBHOOK_TOKEN: {
    schema: z.string().regex(/^[A-Za-z0-9._~+/=-]{16,512}$/, '16 to 512 token characters (letters, digits, . _ ~ + / = -)'),
    expects: 'shared secret the webhook requires in the X-Sentinel-Token header; unset, it accepts loopback clients only',
  },
  SENTINEL_WEBHOOK_MAX_BODY_BYTES: {
    schema: z.coerce.number().int().min(1024).max(262_144),
    expects: 'largest event body the webhook accepts, in bytes (1024-262144: an event must also fit an SQS message)',
    default: '262144',
  },
  SENTINEL_WEBHOOK_BACKLOG_MAX_EVENTS: { schema: z.coerce.number().int().min(1).max(1_000_000), expects: 'events the local webhook backlog may hold before the webhook answers 429', default: '10000' },
  SENTINEL_WEBHOOK_BACKLOG_MAX_BYTES: {
    schema: z.coerce.number().int().min(1_048_576).max(68_719_476_736),
    expects: 'bytes of event bodies the local webhook backlog may hold before the webhook answers 429 (at least 1 MiB)',
    default: String(256 * 1024 * 1024),
  },
  SENTINEL_WEBHOOK_CONCURRENCY: { schema: z.coerce.number().int().min(1).max(100), expects: 'webhook events handled at once (1-100)', default: '10' },
  SENTINEL_WEBHOOK_MAX_RECEIVES: { schema: z.coerce.number().int().min(1).max(100), expects: 'deliveries of a webhook event before it moves to the local dead-letter directory (1-100)', default: '5' },

  SENTINEL_FORENSIC_INSTANCE_ID: { schema: z.string().regex(/^i-[0-9a-f]{8,17}$/, 'an EC2 instance id'), expects: 'the forensic workstation (tagged sentinel:forensic=true) that mounts preserved disks; collect-disk is skipped when unset' },
  SENTINEL_LIME_BUCKET: { schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'), expects: 'bucket holding LiME modules per kernel release; memory capture fails (and asks for a waiver) when unset' },
  SENTINEL_LIME_PREFIX: { schema: z.string().regex(/^[A-Za-z0-9._/-]{1,200}$/, 'an S3 key prefix'), expects: 'key prefix of the LiME modules (<prefix>/<kernel release>/lime.ko)', default: 'lime' },
  SENTINEL_MEMORY_CAPTURE_TIMEOUT_SECONDS: { schema: z.coerce.number().int().min(60).max(21_600), expects: 'seconds a memory capture may run', default: '3600' },
  SENTINEL_FORENSICS_WEB_ROOTS: { schema: list.pipe(z.array(absPath)), expects: 'comma-separated web roots for volatile and disk collection', default: '/var/www' },
  SENTINEL_FORENSICS_CREATE_AMI: { schema: bool, expects: 'true to also register an AMI (no reboot) when preserving the disk', default: 'false' },
  SENTINEL_CLOUDTRAIL_LOOKBACK_MINUTES: { schema: z.coerce.number().int().min(1).max(129_600), expects: 'minutes before the finding that the CloudTrail pull covers', default: '1440' },
  SENTINEL_ANALYSIS_RULES_DIR: { schema: absPath, expects: "absolute directory of the team's own forensic analysis rules (*.yaml, merged after the stock config/analysis-rules; docs/forensics-rules.md)" },

  SENTINEL_SFN_ROLE_ARN: { schema: iamRoleArn, expects: 'the IAM role the state machines run as (sentinel provision; CloudFormation output StateMachineRoleArn)' },
  SENTINEL_PROVISION_PREFIX: { schema: provisionPrefix, expects: 'name prefix of the resources sentinel provision creates (lower-case, 1-32 characters)', default: 'sentinel' },
  SENTINEL_GUARDDUTY_MIN_SEVERITY: { schema: z.coerce.number().min(0).max(10), expects: 'lowest GuardDuty severity (0-10, fractions count) the EventBridge rule sends to the queue; the playbook config\'s guardduty.severityThreshold (8) when unset' },
  SENTINEL_GUARDDUTY_EVENT_BUS: { schema: z.string().regex(/^[A-Za-z0-9._\-/]{1,256}$/, 'an event bus name'), expects: 'event bus the GuardDuty rule is created on', default: 'default' },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

type Parsed<K extends SettingName> = z.output<(typeof SETTINGS)[K]['schema']>;

export interface Config {
  readonly log: { readonly level: Parsed<'SENTINEL_LOG_LEVEL'>; readonly format: Parsed<'SENTINEL_LOG_FORMAT'> };
  readonly playbooksPath: string | undefined;
  readonly dataDir: string;
  readonly discord: {
    readonly token: string | undefined;
    readonly applicationId: string | undefined;
    readonly guildId: string | undefined;
    readonly channelId: string | undefined;
    readonly responderRoleIds: readonly string[];
    readonly apiUrl: string;
  };
  readonly aws: {
    readonly region: string | undefined;
    readonly endpoint: string | undefined;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string } | undefined;
  };
  readonly queueUrl: string | undefined;
  readonly controlQueueUrl: string | undefined;
  readonly evidenceBucket: string | undefined;
  readonly kubeconfigPath: string | undefined;
  readonly pipeline: PipelineSettings;
  readonly bot: BotSettings;
  readonly provision: ProvisionSettings;
  /** The raw validated values, by setting name. */
  readonly values: Readonly<Partial<{ [K in SettingName]: Parsed<K> }>>;
}

/** What the response actions need to know; plain data, passed in. */
export interface PipelineSettings {
  readonly evidenceBucket: string | undefined;
  readonly collector: string;
  readonly extractMaxBytes: number;
  readonly quarantineDir: string;
  readonly quarantineRoots: readonly string[];
  readonly naclId: string | undefined;
  readonly naclMaxRules: number;
  readonly egressAllowlist: readonly string[];
  /** Automatic blocks stop this many rules short of naclMaxRules and ask a responder. */
  readonly naclHeadroom: number;
  /** Hours a block lasts (its expiresAt) unless the action input says otherwise. */
  readonly blockTtlHours: number;
  /** Where deny-egress blocks: a network ACL rule, or a cluster-wide Cilium or Calico policy. */
  readonly egressBackend: 'nacl' | 'cilium' | 'calico';
  /** ip-ranges.json services whose addresses stay blockable; every other AWS range is protected. */
  readonly awsIpRangesBlockableServices: readonly string[];
  /** The cap on automatic containment (deny-egress, isolate-node, isolate-pod run by a playbook step). */
  readonly autoContainment: { readonly cap: number; readonly windowMinutes: number };
  readonly isolationSecurityGroupId: string | undefined;
  readonly stopOnIsolate: boolean;
  readonly protectedTag: string;
  readonly protectedNamespaces: readonly string[];
  readonly cordonOnPodIsolate: boolean;
  /** isolate-pod keeps cluster DNS open unless its input says otherwise. */
  readonly isolatePodAllowDns: boolean;
  /** Node labels (`key` or `key=value`) that make drain-node refuse a node. */
  readonly protectedNodeLabels: readonly string[];
  /** Image of capture-network's ephemeral container (tcpdump and timeout). */
  readonly captureImage: string;
  /** sentinel's SSM documents are sent as `<prefix>-<name>` (SENTINEL_PROVISION_PREFIX, as provision creates them). */
  readonly ssmDocumentPrefix: string;
  /** A directory of the team's own analysis rules (*.yaml), merged after the stock ones; none when absent. */
  readonly analysisRulesDir?: string | undefined;
}

/** How the bot runs: engine, storms, approvals, intake, operations. */
/** What the EC2 forensics playbook is started with. */
export interface ForensicsSettings {
  readonly forensicInstanceId: string | undefined;
  readonly limeModuleBucket: string | undefined;
  readonly limeModulePrefix: string;
  readonly memoryCaptureTimeoutSeconds: number;
  readonly webRoots: readonly string[];
  readonly createAmi: boolean;
  readonly cloudTrailLookbackMinutes: number;
}

/** The event webhook: where it listens, who may post, how much its local backlog holds. */
export interface WebhookSettings {
  readonly host: string;
  readonly port: number;
  /** Shared secret required in X-Sentinel-Token; undefined: loopback clients only. A secret (secretValues). */
  readonly token: string | undefined;
  readonly maxBodyBytes: number;
  readonly backlogMaxEvents: number;
  readonly backlogMaxBytes: number;
  /** Backlog entries handled at once. */
  readonly concurrency: number;
  /** Deliveries of one entry before it is dead-lettered. */
  readonly maxReceives: number;
}

export interface BotSettings {
  readonly stateMachines: { readonly falco: string | undefined; readonly forensics: string | undefined; readonly notify: string | undefined; readonly pod: string | undefined };
  /** Unique id of the state machines' role: the only SenderId (`<id>` or `<id>:<session>`) a control message may have. */
  readonly stateMachineRoleId: string | undefined;
  readonly stepHeartbeatSeconds: number;
  /** `observe`: every action runs as a dry run, everywhere. */
  readonly mode: 'enforce' | 'observe';
  readonly stormWindowMs: number;
  /** Least time between two runs of a file repeat's containment (recontainFile) for one incident. */
  readonly recontainIntervalMs: number;
  readonly editIntervalMs: number;
  /** Discord writes per channel in any 5 s (the outbox's budget). */
  readonly channelBudget: number;
  /** Unposted new incident messages in a channel before storm mode groups them into digests. */
  readonly digestThreshold: number;
  /** Triage-level aggregation: `counters` folds events that differ only in numbers into one incident. */
  readonly aggregateEvents: 'exact' | 'counters';
  readonly approvalStore: 'file' | 's3';
  readonly approvalTimeoutSeconds: number;
  /** How long an approval waits for its preflight before it is posted without its plan. */
  readonly preflightDeadlineMs: number;
  readonly approvalDefaultDecision: 'allow' | 'block';
  readonly twoPersonActions: readonly string[];
  readonly httpPort: number;
  readonly httpHost: string;
  /** Bearer token for /metrics; undefined: loopback clients only. A secret (secretValues). */
  readonly metricsToken: string | undefined;
  /** V8's heap growth past the live heap, percent (boundHeapGrowth); 0: V8's own. */
  readonly heapGrowingPercent: number;
  /** releaseStartupMemory before the first message, and this many seconds after start-up (after the first AWS ranges refresh, when quiet); 0: neither. */
  readonly startupGcSeconds: number;
  readonly sqs: { readonly batchSize: number; readonly concurrency: number; readonly visibilitySeconds: number; readonly waitSeconds: number };
  /** The event webhook (Falcosidekick's webhook output) and its local backlog under `<dataDir>/intake`. */
  readonly webhook: WebhookSettings;
  readonly forensics: ForensicsSettings;
  /** Seconds between sweeps that lift expired egress blocks. */
  readonly blockSweepSeconds: number;
  /** Refreshing AWS's published ranges: from where, how often (0: never). */
  readonly awsIpRanges: { readonly url: string; readonly refreshMinutes: number };
}

/** What `sentinel provision` creates and how. */
export interface ProvisionSettings {
  readonly sfnRoleArn: string | undefined;
  readonly prefix: string;
  /** Undefined: use the playbook config's guardduty.severityThreshold. */
  readonly guardDutyMinSeverity: number | undefined;
  readonly eventBus: string;
}

export interface LoadConfigOptions {
  /** The environment to read; `process.env` by default. */
  env?: Record<string, string | undefined>;
  /** A dotenv file to read first (values already in `env` win); `.env` by default, `false` for none. */
  envFile?: string | false;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Loads and validates every setting at once. Throws one ConfigError naming each bad variable. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const source: Record<string, string | undefined> = { ...(options.env ?? process.env) };
  const envFile = options.envFile ?? '.env';
  if (envFile !== false && existsSync(envFile)) {
    const fromFile: Record<string, string> = {};
    dotenv.config({ path: envFile, processEnv: fromFile, quiet: true });
    for (const [k, v] of Object.entries(fromFile)) if (source[k] === undefined) source[k] = v;
  }

  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const raw = source[name];
    const input = raw === undefined || (raw.trim() === '' && setting.default !== '') ? setting.default : raw.trim();
    if (input === undefined) continue;
    const parsed = setting.schema.safeParse(input);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(`${name}: expected ${setting.expects} (${parsed.error.issues.map((i) => i.message).join('; ')})`);
  }
  if (values.AWS_ACCESS_KEY_ID !== undefined && values.AWS_SECRET_ACCESS_KEY === undefined) {
    problems.push('AWS_SECRET_ACCESS_KEY: expected the secret for AWS_ACCESS_KEY_ID (it is set without one)');
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } });

  const v = values as Config['values'];
  const config: Config = {
    log: { level: v.SENTINEL_LOG_LEVEL ?? 'info', format: v.SENTINEL_LOG_FORMAT ?? 'json' },
    playbooksPath: v.SENTINEL_PLAYBOOKS,
    dataDir: v.SENTINEL_DATA_DIR ?? './var',
    discord: {
      token: v.DISCORD_TOKEN,
      applicationId: v.DISCORD_APPLICATION_ID,
      guildId: v.DISCORD_GUILD_ID,
      channelId: v.DISCORD_CHANNEL_ID,
      responderRoleIds: v.DISCORD_RESPONDER_ROLE_IDS ?? [],
      apiUrl: v.DISCORD_API_URL ?? 'https://discord.com/api',
    },
    aws: {
      region: v.AWS_REGION,
      endpoint: v.AWS_ENDPOINT_URL,
      credentials:
        v.AWS_ACCESS_KEY_ID && v.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: v.AWS_ACCESS_KEY_ID, secretAccessKey: v.AWS_SECRET_ACCESS_KEY, ...(v.AWS_SESSION_TOKEN ? { sessionToken: v.AWS_SESSION_TOKEN } : {}) }
          : undefined,
    },
    queueUrl: v.SENTINEL_QUEUE_URL,
    controlQueueUrl: v.SENTINEL_CONTROL_QUEUE_URL,
    evidenceBucket: v.SENTINEL_EVIDENCE_BUCKET,
    kubeconfigPath: v.SENTINEL_KUBECONFIG,
    pipeline: {
      evidenceBucket: v.SENTINEL_EVIDENCE_BUCKET,
      collector: v.SENTINEL_COLLECTOR ?? 'sentinel',
      extractMaxBytes: v.SENTINEL_EXTRACT_MAX_BYTES ?? 100 * 1024 * 1024,
      quarantineDir: v.SENTINEL_QUARANTINE_DIR ?? '/var/lib/sentinel-quarantine',
      quarantineRoots: v.SENTINEL_QUARANTINE_ROOTS ?? [],
      naclId: v.SENTINEL_NACL_ID,
      naclMaxRules: v.SENTINEL_NACL_MAX_RULES ?? 20,
      egressAllowlist: v.SENTINEL_EGRESS_ALLOWLIST ?? [],
      naclHeadroom: v.SENTINEL_NACL_HEADROOM ?? 2,
      blockTtlHours: v.SENTINEL_BLOCK_TTL_HOURS ?? 24,
      egressBackend: v.SENTINEL_EGRESS_BACKEND ?? 'nacl',
      awsIpRangesBlockableServices: v.SENTINEL_AWS_IP_RANGES_BLOCKABLE_SERVICES ?? ['EC2'],
      autoContainment: { cap: v.SENTINEL_AUTO_CONTAINMENT_CAP ?? 10, windowMinutes: v.SENTINEL_AUTO_CONTAINMENT_WINDOW_MINUTES ?? 60 },
      isolationSecurityGroupId: v.SENTINEL_ISOLATION_SG_ID,
      stopOnIsolate: v.SENTINEL_ISOLATE_STOP_INSTANCE ?? false,
      protectedTag: v.SENTINEL_PROTECTED_TAG ?? 'sentinel:protected',
      protectedNamespaces: v.SENTINEL_PROTECTED_NAMESPACES ?? [],
      cordonOnPodIsolate: v.SENTINEL_CORDON_ON_POD_ISOLATE ?? false,
      isolatePodAllowDns: v.SENTINEL_ISOLATE_POD_ALLOW_DNS ?? true,
      protectedNodeLabels: v.SENTINEL_PROTECTED_NODE_LABELS ?? [],
      captureImage: v.SENTINEL_CAPTURE_IMAGE ?? 'nicolaka/netshoot:v0.13',
      ssmDocumentPrefix: v.SENTINEL_PROVISION_PREFIX ?? 'sentinel',
      analysisRulesDir: v.SENTINEL_ANALYSIS_RULES_DIR,
    },
    bot: {
      stateMachines: { falco: v.SENTINEL_STATE_MACHINE_FALCO, forensics: v.SENTINEL_STATE_MACHINE_FORENSICS, notify: v.SENTINEL_STATE_MACHINE_NOTIFY, pod: v.SENTINEL_STATE_MACHINE_POD },
      stateMachineRoleId: v.SENTINEL_SFN_ROLE_ID,
      stepHeartbeatSeconds: v.SENTINEL_STEP_HEARTBEAT_SECONDS ?? 120,
      mode: v.SENTINEL_MODE ?? 'enforce',
      stormWindowMs: (v.SENTINEL_STORM_WINDOW_SECONDS ?? 600) * 1000,
      recontainIntervalMs: (v.SENTINEL_RECONTAIN_INTERVAL_SECONDS ?? 5) * 1000,
      editIntervalMs: (v.SENTINEL_EDIT_INTERVAL_SECONDS ?? 5) * 1000,
      channelBudget: v.SENTINEL_DISCORD_CHANNEL_BUDGET ?? 4,
      digestThreshold: v.SENTINEL_DIGEST_THRESHOLD ?? 8,
      aggregateEvents: v.SENTINEL_AGGREGATE_EVENTS ?? 'exact',
      approvalStore: v.SENTINEL_APPROVAL_STORE ?? 'file',
      approvalTimeoutSeconds: v.SENTINEL_APPROVAL_TIMEOUT_SECONDS ?? 3600,
      preflightDeadlineMs: (v.SENTINEL_PREFLIGHT_DEADLINE_SECONDS ?? 2) * 1000,
      approvalDefaultDecision: v.SENTINEL_APPROVAL_DEFAULT_DECISION ?? 'allow',
      twoPersonActions: v.SENTINEL_TWO_PERSON_ACTIONS ?? [],
      httpPort: v.SENTINEL_HTTP_PORT ?? 8080,
      httpHost: v.SENTINEL_HTTP_HOST ?? '0.0.0.0',
      metricsToken: v.SENTINEL_METRICS_TOKEN,
      heapGrowingPercent: v.SENTINEL_HEAP_GROWING_PERCENT ?? 10,
      startupGcSeconds: v.SENTINEL_STARTUP_GC_SECONDS ?? 20,
      sqs: { batchSize: v.SENTINEL_SQS_BATCH_SIZE ?? 10, concurrency: v.SENTINEL_SQS_CONCURRENCY ?? 100, visibilitySeconds: v.SENTINEL_SQS_VISIBILITY_SECONDS ?? 60, waitSeconds: v.SENTINEL_SQS_WAIT_SECONDS ?? 20 },
      webhook: {
        host: v.SENTINEL_WEBHOOK_HOST ?? '0.0.0.0',
        port: v.SENTINEL_WEBHOOK_PORT ?? 8081,
        token: v.SENTINEL_WEBHOOK_TOKEN,
        maxBodyBytes: v.SENTINEL_WEBHOOK_MAX_BODY_BYTES ?? 262_144,
        backlogMaxEvents: v.SENTINEL_WEBHOOK_BACKLOG_MAX_EVENTS ?? 10_000,
        backlogMaxBytes: v.SENTINEL_WEBHOOK_BACKLOG_MAX_BYTES ?? 256 * 1024 * 1024,
        concurrency: v.SENTINEL_WEBHOOK_CONCURRENCY ?? 10,
        maxReceives: v.SENTINEL_WEBHOOK_MAX_RECEIVES ?? 5,
      },
      blockSweepSeconds: v.SENTINEL_BLOCK_SWEEP_SECONDS ?? 60,
      awsIpRanges: { url: v.SENTINEL_AWS_IP_RANGES_URL ?? 'https://ip-ranges.amazonaws.com/ip-ranges.json', refreshMinutes: v.SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES ?? 720 },
      forensics: {
        forensicInstanceId: v.SENTINEL_FORENSIC_INSTANCE_ID,
        limeModuleBucket: v.SENTINEL_LIME_BUCKET,
        limeModulePrefix: v.SENTINEL_LIME_PREFIX ?? 'lime',
        memoryCaptureTimeoutSeconds: v.SENTINEL_MEMORY_CAPTURE_TIMEOUT_SECONDS ?? 3600,
        webRoots: v.SENTINEL_FORENSICS_WEB_ROOTS ?? ['/var/www'],
        createAmi: v.SENTINEL_FORENSICS_CREATE_AMI ?? false,
        cloudTrailLookbackMinutes: v.SENTINEL_CLOUDTRAIL_LOOKBACK_MINUTES ?? 1440,
      },
    },
    provision: {
      sfnRoleArn: v.SENTINEL_SFN_ROLE_ARN,
      prefix: v.SENTINEL_PROVISION_PREFIX ?? 'sentinel',
      guardDutyMinSeverity: v.SENTINEL_GUARDDUTY_MIN_SEVERITY,
      eventBus: v.SENTINEL_GUARDDUTY_EVENT_BUS ?? 'default',
    },
    values: v,
  };
  return deepFreeze(config);
}

/** Fails with one ConfigError naming every listed setting that is unset. */
export function requireSettings(config: Config, names: readonly SettingName[], purpose: string): void {
  const missing = names.filter((n) => config.values[n] === undefined);
  if (missing.length) {
    throw new ConfigError(
      `Missing configuration for ${purpose}:\n  ${missing.map((n) => `${n}: expected ${SETTINGS[n].expects}`).join('\n  ')}`,
      { details: { missing } },
    );
  }
}

/** Values that must never reach a log line or a Discord message. */
export function secretValues(config: Config): string[] {
  return [config.discord.token, config.aws.credentials?.secretAccessKey, config.aws.credentials?.sessionToken, config.bot.metricsToken, config.bot.webhook.token].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}
