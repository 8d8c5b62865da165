import { IAMClient } from '@aws-sdk/client-iam';
import { awsClientOptions, awsSettingsFromConfig, createAwsClients, destroyAwsClients } from '../aws/clients.js';
import { provisionPrefix, requireSettings } from '../config.js';
import { UserError } from '../errors.js';
import { loadPlaybookConfig } from '../pipeline/triage/playbookConfig.js';
import { buildDesiredState } from '../provision/desired.js';
import { formatPlan } from '../provision/plan.js';
import { formatSettings, loadSsmDocumentTemplates, loadStateMachineTemplates, provision } from '../provision/provision.js';
import type { CliContext } from './types.js';

export interface ProvisionCommandOptions {
  dryRun: boolean;
  /** Overrides SENTINEL_PROVISION_PREFIX. */
  prefix: string | undefined;
  /** The ASL directory; deploy/statemachines by default. */
  stateMachinesDir?: string;
}

/**
 * `sentinel provision [--dry-run] [--prefix NAME]`: creates or updates the intake queue and
 * the control queue (each with its DLQ and policy), the GuardDuty EventBridge rule, sentinel's
 * SSM documents, the state machines and the evidence bucket; prints one line per resource
 * (create / update / unchanged, and why), then the settings for the bot's .env, with the state
 * machines' role id when iam:GetRole allows. A dry run only reads.
 */
export async function runProvision(options: ProvisionCommandOptions, ctx: CliContext): Promise<number> {
  requireSettings(ctx.config, ['AWS_REGION', 'SENTINEL_SFN_ROLE_ARN'], 'sentinel provision');
  const prefix = options.prefix ?? ctx.config.provision.prefix;
  const checked = provisionPrefix.safeParse(prefix);
  if (!checked.success) throw new UserError(`--prefix ${JSON.stringify(prefix)}: expected ${checked.error.issues.map((i) => i.message).join('; ')}`);

  // The rule's threshold defaults to the one triage applies, so the two agree.
  const playbookThreshold = loadPlaybookConfig(ctx.config.playbooksPath).guardduty.severityThreshold;
  const minSeverity = ctx.config.provision.guardDutyMinSeverity ?? playbookThreshold;
  const desired = buildDesiredState({
    prefix,
    region: ctx.config.aws.region!,
    sfnRoleArn: ctx.config.provision.sfnRoleArn!,
    minSeverity,
    visibilitySeconds: ctx.config.bot.sqs.visibilitySeconds,
    bucketName: ctx.config.evidenceBucket,
    eventBusName: ctx.config.provision.eventBus,
    stateMachines: loadStateMachineTemplates(options.stateMachinesDir),
    ssmDocuments: loadSsmDocumentTemplates(),
  });

  const out = (line = '') => ctx.stdout.write(`${line}\n`);
  const settings = awsSettingsFromConfig(ctx.config);
  const aws = createAwsClients(settings);
  // IAM only reads the state machines' role id (SENTINEL_SFN_ROLE_ID).
  const iam = new IAMClient(awsClientOptions(settings));
  try {
    out(`sentinel provision${options.dryRun ? ' --dry-run' : ''}: account ${desired.accountId}, region ${desired.region}, prefix ${prefix}`);
    const result = await provision({ ...aws, iam }, desired, {
      dryRun: options.dryRun,
      onPlan: (changes) => {
        for (const line of formatPlan(changes)) out(line);
      },
    });
    const { create, update, unchanged } = result.summary;
    out();
    if (options.dryRun) out(`dry run: ${create} to create, ${update} to update, ${unchanged} unchanged; nothing was changed`);
    else if (!result.applied.length) out(`nothing to do: all ${unchanged} unchanged`);
    else out(`done: ${create} created, ${update} updated, ${unchanged} unchanged`);
    if (minSeverity !== playbookThreshold) {
      out(`note: the rule delivers GuardDuty severity >= ${minSeverity}, the playbook config's guardduty.severityThreshold is ${playbookThreshold}`);
    }
    out();
    out("# Settings for the bot's .env:");
    for (const line of formatSettings(result.settings)) out(line);
    ctx.logger.info('provisioned', { dryRun: options.dryRun, prefix, ...result.summary, applied: result.applied.length });
    return 0;
  } finally {
    destroyAwsClients(aws);
    iam.destroy();
  }
}
