import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { packageRoot } from '../util/packageRoot.js';
import { loadSsmDocuments } from '../aws/ssmDocuments.js';
import type { DesiredState, SsmDocumentTemplate, StateMachineTemplate } from './desired.js';
import { executePlan } from './execute.js';
import { planProvision, summarizePlan, type Change, type CurrentRole, type CurrentState, type PlanSummary } from './plan.js';
import { readCurrentState, type ProvisionClients } from './readCurrent.js';

const ASL_SUFFIX = '.asl.json';

/** `deploy/statemachines` of this checkout or install. */
export function defaultStateMachinesDir(): string {
  return join(packageRoot(), 'deploy', 'statemachines');
}

/** Every `*.asl.json` in `dir`, parsed, sorted by name. */
export function loadStateMachineTemplates(dir: string = defaultStateMachinesDir()): StateMachineTemplate[] {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith(ASL_SUFFIX))
      .sort();
  } catch (err) {
    throw new ConfigError(`cannot read the state machine directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!files.length) throw new ConfigError(`no *${ASL_SUFFIX} state machine definitions in ${dir}`);
  return files.map((file) => {
    const path = join(dir, file);
    let definition: unknown;
    try {
      definition = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read state machine definition ${path}: ${(err as Error).message}`, { cause: err });
    }
    return { basename: file.slice(0, -ASL_SUFFIX.length), definition };
  });
}

/**
 * deploy/ssm/*.json (or `dir`), validated by loadSsmDocuments, as provision sends them: the
 * content is `JSON.stringify` of the parsed document (what ssmDocumentSha256 hashes).
 */
export function loadSsmDocumentTemplates(dir?: string): SsmDocumentTemplate[] {
  return loadSsmDocuments(dir).map((d) => ({ basename: d.name, content: JSON.stringify(d.content) }));
}

export interface ProvisionOptions {
  /** Plan only: read, compare, report; no write call. */
  dryRun: boolean;
  /** Called with the plan before anything is applied. */
  onPlan?: (changes: readonly Change[]) => void;
  onApplied?: (change: Change) => void;
}

export interface BotSetting {
  name: string;
  /** Undefined when not known yet (a dry run before the queue exists, a role id IAM would not give). */
  value: string | undefined;
  /** Why the value is not known, and how to get it. */
  unknown?: string;
}

export interface ProvisionResult {
  changes: Change[];
  summary: PlanSummary;
  /** What was applied (empty for a dry run, or when everything was unchanged). */
  applied: Change[];
  current: CurrentState;
  /** The settings the bot's .env needs for what was provisioned. */
  settings: BotSetting[];
}

export interface KnownValues {
  queueUrl: string | undefined;
  controlQueueUrl: string | undefined;
  stateMachineRole: CurrentRole;
}

const NOT_CREATED = 'known once the queue is created';

/** The bot's settings for the provisioned resources. */
export function botSettings(desired: DesiredState, known: KnownValues): BotSetting[] {
  const role = known.stateMachineRole;
  const roleName = desired.sfnRoleArn.slice(desired.sfnRoleArn.lastIndexOf('/') + 1);
  const settings: BotSetting[] = [
    { name: 'AWS_REGION', value: desired.region },
    { name: 'SENTINEL_QUEUE_URL', value: known.queueUrl, ...(known.queueUrl ? {} : { unknown: NOT_CREATED }) },
    { name: 'SENTINEL_CONTROL_QUEUE_URL', value: known.controlQueueUrl, ...(known.controlQueueUrl ? {} : { unknown: NOT_CREATED }) },
    'roleId' in role
      ? { name: 'SENTINEL_SFN_ROLE_ID', value: role.roleId }
      : {
          name: 'SENTINEL_SFN_ROLE_ID',
          value: undefined,
          unknown: `${role.unreadable}; get it with: aws iam get-role --role-name ${roleName} --query Role.RoleId --output text`,
        },
    { name: 'SENTINEL_EVIDENCE_BUCKET', value: desired.bucket.name },
  ];
  for (const m of desired.stateMachines) settings.push({ name: m.setting ?? `# ${m.name}`, value: m.arn });
  return settings;
}

/** `NAME=value` lines for the bot's .env; an unknown value is a comment saying why. */
export function formatSettings(settings: readonly BotSetting[]): string[] {
  return settings.map((s) =>
    s.value === undefined ? `# ${s.name}=  (${s.unknown ?? 'not known'})` : s.name.startsWith('#') ? `${s.name}: ${s.value}` : `${s.name}=${s.value}`,
  );
}

/** Reads what exists, plans, and (unless a dry run) applies the plan. */
export async function provision(clients: ProvisionClients, desired: DesiredState, options: ProvisionOptions): Promise<ProvisionResult> {
  const current = await readCurrentState(clients, desired);
  const changes = planProvision(desired, current);
  const summary = summarizePlan(changes);
  options.onPlan?.(changes);
  const known = (queueUrl: string | undefined, controlQueueUrl: string | undefined): KnownValues => ({ queueUrl, controlQueueUrl, stateMachineRole: current.stateMachineRole });
  if (options.dryRun) return { changes, summary, applied: [], current, settings: botSettings(desired, known(current.queue?.url, current.controlQueue?.url)) };
  const result = await executePlan(clients, changes, current, options.onApplied ? { onApplied: options.onApplied } : {});
  return { changes, summary, applied: result.applied, current, settings: botSettings(desired, known(result.queueUrl, result.controlQueueUrl)) };
}
