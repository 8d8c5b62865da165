import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/packageRoot.js';
import { FALCO_PRIORITIES, parseFalcoPriority, type FalcoPriority } from './falcoPriority.js';
import { fieldConditionsSchema } from './fieldConditions.js';
import { compileOutputTemplate, type OutputTemplate } from './outputTemplate.js';
import { readConfigDocument, type ConfigDocument } from './readConfigDocument.js';

const falcoRoute = z.enum(['file-artifact', 'block-egress', 'isolate-node', 'approval', 'record', 'test', 'ignore']);
/** `contain-pod`: the pod playbook, for a finding in a pod (EKS Runtime Monitoring, EKS audit logs). */
const guardDutyRoute = z.enum(['forensics', 'contain-pod', 'notify', 'ignore']);
const priority = z.string().transform((v, ctx) => {
  const p = parseFalcoPriority(v);
  if (!p) ctx.addIssue({ code: 'custom', message: `unknown Falco priority "${v}" (expected one of ${FALCO_PRIORITIES.join(', ')})` });
  return p as FalcoPriority;
});

export const PRIORITY_OPERATORS = ['>=', '<=', '!=', '>', '<', '='] as const;
export type PriorityCondition = { op: (typeof PRIORITY_OPERATORS)[number]; priority: FalcoPriority };

/** `">=critical"`, `"<warning"`, `"notice"` (the same as `"=notice"`). */
const priorityCondition = z.string().transform((v, ctx): PriorityCondition => {
  const m = /^\s*(>=|<=|!=|>|<|=)?\s*(\S+)\s*$/.exec(v);
  const p = m ? parseFalcoPriority(m[2]!) : undefined;
  if (!m || !p) {
    ctx.addIssue({ code: 'custom', message: `expected an optional operator (${PRIORITY_OPERATORS.join(' ')}) and a Falco priority (${FALCO_PRIORITIES.join(', ')}), e.g. ">=critical"` });
    return z.NEVER;
  }
  return { op: (m[1] ?? '=') as PriorityCondition['op'], priority: p };
});
const names = z.array(z.string().min(1)).min(1);

/** Options every playbook rule has (Falco and GuardDuty). `observe` is the older name of `dryRun`. */
const ruleOptions = {
  name: z.string().min(1).optional(),
  /** Every action of the plan is a dry run that shows what it would change. */
  dryRun: z.boolean().optional(),
  /** Alias of dryRun (its first name). */
  observe: z.boolean().optional(),
  /** After this rule, keep matching: the next matching rule joins the plan. */
  continue: z.boolean().optional(),
};

interface RawRuleOptions {
  route?: string | undefined;
  dryRun?: boolean | undefined;
  observe?: boolean | undefined;
  continue?: boolean | undefined;
}

function checkRuleOptions(r: RawRuleOptions, ctx: z.RefinementCtx): void {
  if (r.dryRun !== undefined && r.observe !== undefined && r.dryRun !== r.observe) {
    ctx.addIssue({ code: 'custom', path: ['observe'], message: 'observe is another name for dryRun and says the opposite: give one of them' });
  }
  if (r.route === undefined && r.continue !== true) {
    ctx.addIssue({ code: 'custom', path: ['route'], message: 'a rule needs a route (only a rule with continue: true may leave it out: it then only adds dryRun or artifact to the plan)' });
  }
  if ((r.route === 'ignore' || r.route === 'test') && r.continue === true) {
    ctx.addIssue({ code: 'custom', path: ['continue'], message: `route ${r.route} ends the matching: it cannot continue` });
  }
}

/** The rule's options with `observe` folded into `dryRun`. */
function foldObserve<T extends RawRuleOptions>({ observe, ...rest }: T): Omit<T, 'observe'> {
  return { ...rest, ...(rest.dryRun === undefined && observe !== undefined ? { dryRun: observe } : {}) } as Omit<T, 'observe'>;
}

const falcoMatchSchema = z
  .object({
    /** Falco rule names (JSON output's `rule`); a rule naming the event's rule comes before tag and prefix matches. */
    rule: names.optional(),
    /** The output's first word, as the project's rules write it (e.g. ARTIFACT_EXEC). */
    tag: names.optional(),
    /** The fixed start of a stock rule's output (text lines carry no rule name). */
    outputPrefix: names.optional(),
    /** Any of Falco's tags. */
    tags: names.optional(),
    minPriority: priority.optional(),
    priority: priorityCondition.optional(),
    /** Falco's event source (syscall, k8s_audit, aws_cloudtrail, internal for Falcosidekick's test). */
    source: names.optional(),
    /** Conditions on output_fields keys, Falcosidekick's custom fields among them. */
    fields: z
      .record(z.string().min(1), fieldConditionsSchema)
      .refine((f) => Object.keys(f).length > 0, { message: 'fields needs at least one field' })
      .optional(),
  })
  .strict()
  .refine((m) => Object.values(m).some((v) => v !== undefined), {
    message: 'a match needs at least one condition: rule, tag, outputPrefix, tags, priority, minPriority, source or fields',
  });

const falcoRuleSchema = z
  .object({
    ...ruleOptions,
    match: falcoMatchSchema,
    route: falcoRoute.optional(),
    artifact: z.object({ path: names, src: names.optional() }).strict().optional(),
  })
  .strict()
  .superRefine(checkRuleOptions)
  .transform(foldObserve);

const guardDutyRuleSchema = z
  .object({
    ...ruleOptions,
    match: z
      .object({
        type: names.optional(),
        typePrefix: names.optional(),
        resourceType: names.optional(),
        minSeverity: z.number().min(0).max(10).optional(),
        /** The finding names a pod (an EKS finding whose kubernetesWorkloadDetails is of type pods), or, with false, none. */
        pod: z.boolean().optional(),
      })
      .strict()
      .refine((m) => m.type || m.typePrefix || m.resourceType || m.minSeverity !== undefined || m.pod !== undefined, {
        message: 'a match needs at least one of type, typePrefix, resourceType, minSeverity or pod',
      }),
    route: guardDutyRoute.optional(),
  })
  .strict()
  .superRefine(checkRuleOptions)
  .transform(foldObserve);

const template = z.string().min(1);

export const playbookConfigSchema = z
  .object({
    $comment: z.string().optional(),
    falco: z
      .object({
        $comment: z.string().optional(),
        minPriority: priority.default('notice'),
        defaultRoute: falcoRoute.default('record'),
        rules: z.array(falcoRuleSchema).default([]),
        /** By tag (describes the text after it) or by Falco rule name (describes the whole output); a list is tried in order. */
        templates: z.record(z.string().min(1), z.union([template, z.array(template).min(1)])).default({}),
      })
      .strict(),
    guardduty: z
      .object({
        $comment: z.string().optional(),
        severityThreshold: z.number().min(0).max(10).default(8),
        defaultRoute: guardDutyRoute.default('notify'),
        rules: z.array(guardDutyRuleSchema).default([]),
      })
      .strict(),
  })
  .strict();

export type FalcoRuleConfig = z.output<typeof falcoRuleSchema>;
export type FalcoMatch = FalcoRuleConfig['match'];
export type GuardDutyRuleConfig = z.output<typeof guardDutyRuleSchema>;
export type FalcoRoute = z.output<typeof falcoRoute>;

/** A compiled output template, and whether it describes the whole output (a rule's) or what follows the tag. */
export interface TemplateSet {
  readonly key: string;
  readonly wholeOutput: boolean;
  readonly templates: readonly OutputTemplate[];
}

export interface PlaybookConfig {
  readonly falco: {
    readonly minPriority: FalcoPriority;
    readonly defaultRoute: FalcoRoute;
    readonly rules: readonly FalcoRuleConfig[];
    /** Templates by their key: a tag or a Falco rule name. */
    readonly templates: ReadonlyMap<string, readonly OutputTemplate[]>;
  };
  readonly guardduty: {
    readonly severityThreshold: number;
    readonly defaultRoute: z.output<typeof guardDutyRoute>;
    readonly rules: readonly GuardDutyRuleConfig[];
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

function where(location: string, doc: ConfigDocument | undefined, path: readonly PropertyKey[], key?: string): string {
  const pos = doc?.locate(path, key);
  return pos ? `${location}:${pos.line}:${pos.col}` : location;
}

/** One line per problem: `<file>:<line>:<col>: <path>: <reason>`. */
function describeIssue(issue: z.core.$ZodIssue, location: string, doc: ConfigDocument | undefined): string[] {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const inMatch = path[path.length - 1] === 'match' && path[0] === 'falco';
      const hint = inMatch ? ` (a condition on an event field goes under match.fields, e.g. fields: { k8s.ns.name: { "!=": kube-system } })` : '';
      const inCondition = path.includes('fields') ? ` (operators: =, !=, in, prefix, exists)` : '';
      return `${where(location, doc, path, key)}: ${formatPath([...path, key])}: unknown key "${key}"${hint}${inCondition}`;
    });
  }
  return [`${where(location, doc, path)}: ${formatPath(path) || '(root)'}: ${issue.message}`];
}

/**
 * Validates a parsed playbook config; `location` names where it came from in errors, and `doc`
 * (when the file was read) gives each problem its line and column.
 */
export function parsePlaybookConfig(input: unknown, location: string, doc?: ConfigDocument): PlaybookConfig {
  const parsed = playbookConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((i) => describeIssue(i, location, doc));
    throw new ConfigError(`Invalid playbook config:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  const templates = new Map<string, OutputTemplate[]>();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed.data.falco.templates)) {
    const list = Array.isArray(value) ? value : [value];
    const compiled: OutputTemplate[] = [];
    list.forEach((t, i) => {
      const path = Array.isArray(value) ? ['falco', 'templates', key, i] : ['falco', 'templates', key];
      try {
        compiled.push(compileOutputTemplate(t));
      } catch (err) {
        problems.push(`${where(location, doc, path)}: ${formatPath(path)}: ${(err as Error).message}`);
      }
    });
    templates.set(key, compiled);
  }
  if (problems.length) throw new ConfigError(`Invalid playbook config:\n  ${problems.join('\n  ')}`, { details: { problems } });
  const { falco, guardduty } = parsed.data;
  return Object.freeze({
    falco: Object.freeze({ minPriority: falco.minPriority, defaultRoute: falco.defaultRoute, rules: Object.freeze(falco.rules), templates }),
    guardduty: Object.freeze({ severityThreshold: guardduty.severityThreshold, defaultRoute: guardduty.defaultRoute, rules: Object.freeze(guardduty.rules) }),
  });
}

/**
 * The template set for an alert: by its tag first (it describes what follows the tag), then by
 * its Falco rule name (it describes the whole output).
 */
export function templatesFor(config: PlaybookConfig, tag: string, ruleName: string | undefined): TemplateSet | undefined {
  const templates = config.falco.templates;
  let sets = lastSets?.templates === templates ? lastSets.sets : TEMPLATE_SETS.get(templates);
  if (!sets) {
    sets = { byTag: new Map(), byRule: new Map() };
    TEMPLATE_SETS.set(templates, sets);
  }
  if (lastSets?.templates !== templates) lastSets = { templates, sets };
  const byTag = tag ? templates.get(tag) : undefined;
  if (byTag?.length) return setOf(sets.byTag, tag, false, byTag);
  const byRule = ruleName !== undefined ? templates.get(ruleName) : undefined;
  if (byRule?.length) return setOf(sets.byRule, ruleName!, true, byRule);
  return undefined;
}

/** Each config's template sets, made once (they are the same for every event with that tag or rule). */
const TEMPLATE_SETS = new WeakMap<ReadonlyMap<string, readonly OutputTemplate[]>, { byTag: Map<string, TemplateSet>; byRule: Map<string, TemplateSet> }>();

/** The last config's sets (a bot has one config: no WeakMap lookup per event). */
let lastSets: { templates: ReadonlyMap<string, readonly OutputTemplate[]>; sets: { byTag: Map<string, TemplateSet>; byRule: Map<string, TemplateSet> } } | undefined;

function setOf(made: Map<string, TemplateSet>, key: string, wholeOutput: boolean, templates: readonly OutputTemplate[]): TemplateSet {
  let set = made.get(key);
  if (!set) {
    set = Object.freeze({ key, wholeOutput, templates });
    made.set(key, set);
  }
  return set;
}

/** Where the built-in defaults live. */
export function defaultPlaybookConfigPath(): string {
  return join(packageRoot(), 'config', 'playbooks.json');
}

/**
 * Reads and validates a playbook config file (the built-in defaults when no path is given):
 * JSON for `.json`, YAML otherwise (`.yaml`, `.yml`, anything else). Errors name the file, the
 * line and column, the path of the value and the reason.
 */
export function loadPlaybookConfig(path: string = defaultPlaybookConfigPath()): PlaybookConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read playbook config ${path}: ${(err as Error).message}`, { cause: err });
  }
  const doc = readConfigDocument(text.replace(/^\uFEFF/, ''), path, extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');
  return parsePlaybookConfig(doc.value, path, doc);
}
