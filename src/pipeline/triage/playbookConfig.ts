import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/packageRoot.js';
import { FALCO_PRIORITIES, parseFalcoPriority, type FalcoPriority } from './falcoPriority.js';
import { compileOutputTemplate, type OutputTemplate } from './outputTemplate.js';

const falcoRoute = z.enum(['file-artifact', 'block-egress', 'isolate-node', 'approval', 'record', 'ignore']);
const guardDutyRoute = z.enum(['forensics', 'notify', 'ignore']);
const priority = z
  .string()
  .transform((v, ctx) => {
    const p = parseFalcoPriority(v);
    if (!p) ctx.addIssue({ code: 'custom', message: `unknown Falco priority "${v}" (expected one of ${FALCO_PRIORITIES.join(', ')})` });
    return p as FalcoPriority;
  });
const names = z.array(z.string().min(1)).min(1);

const falcoRuleSchema = z
  .object({
    name: z.string().optional(),
    match: z
      .object({
        rule: names.optional(),
        tag: names.optional(),
        outputPrefix: names.optional(),
        tags: names.optional(),
        minPriority: priority.optional(),
      })
      .strict()
      .refine((m) => m.rule || m.tag || m.outputPrefix || m.tags, {
        message: 'a match needs at least one of rule, tag, outputPrefix or tags',
      }),
    route: falcoRoute,
    artifact: z.object({ path: names, src: names.optional() }).strict().optional(),
    /** Observe-only: the playbook runs, every action as a dry run that shows its plan. */
    observe: z.boolean().optional(),
  })
  .strict();

const guardDutyRuleSchema = z
  .object({
    name: z.string().optional(),
    match: z
      .object({
        type: names.optional(),
        typePrefix: names.optional(),
        resourceType: names.optional(),
        minSeverity: z.number().min(0).max(10).optional(),
      })
      .strict()
      .refine((m) => m.type || m.typePrefix || m.resourceType || m.minSeverity !== undefined, {
        message: 'a match needs at least one of type, typePrefix, resourceType or minSeverity',
      }),
    route: guardDutyRoute,
    /** Observe-only: the playbook runs, every action as a dry run that shows its plan. */
    observe: z.boolean().optional(),
  })
  .strict();

export const playbookConfigSchema = z
  .object({
    $comment: z.string().optional(),
    falco: z
      .object({
        minPriority: priority.default('notice'),
        defaultRoute: falcoRoute.default('record'),
        rules: z.array(falcoRuleSchema).default([]),
        templates: z.record(z.string().min(1), z.string().min(1)).default({}),
      })
      .strict(),
    guardduty: z
      .object({
        severityThreshold: z.number().min(0).max(10).default(8),
        defaultRoute: guardDutyRoute.default('notify'),
        rules: z.array(guardDutyRuleSchema).default([]),
      })
      .strict(),
  })
  .strict();

export type FalcoRuleConfig = z.output<typeof falcoRuleSchema>;
export type GuardDutyRuleConfig = z.output<typeof guardDutyRuleSchema>;

/** Rule positions by what identifies them, for lookups without scanning every rule. */
export interface FalcoRuleIndex {
  readonly byName: ReadonlyMap<string, readonly number[]>;
  readonly byTag: ReadonlyMap<string, readonly number[]>;
  readonly byPrefix: readonly number[];
  readonly byTagsOnly: readonly number[];
}

export interface PlaybookConfig {
  readonly falco: {
    readonly index: FalcoRuleIndex;
    readonly minPriority: FalcoPriority;
    readonly defaultRoute: z.output<typeof falcoRoute>;
    readonly rules: readonly FalcoRuleConfig[];
    readonly templates: ReadonlyMap<string, OutputTemplate>;
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

/** Validates a parsed playbook config; `location` names where it came from in errors. */
export function parsePlaybookConfig(input: unknown, location: string): PlaybookConfig {
  const parsed = playbookConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${location}: ${formatPath(i.path) || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid playbook config:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  const templates = new Map<string, OutputTemplate>();
  const problems: string[] = [];
  for (const [tag, template] of Object.entries(parsed.data.falco.templates)) {
    try {
      templates.set(tag, compileOutputTemplate(template));
    } catch (err) {
      problems.push(`${location}: falco.templates.${tag}: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new ConfigError(`Invalid playbook config:\n  ${problems.join('\n  ')}`, { details: { problems } });
  const { falco, guardduty } = parsed.data;
  return Object.freeze({
    falco: Object.freeze({ ...falco, rules: Object.freeze(falco.rules), templates, index: indexFalcoRules(falco.rules) }),
    guardduty: Object.freeze({ ...guardduty, rules: Object.freeze(guardduty.rules) }),
  });
}

function indexFalcoRules(rules: readonly FalcoRuleConfig[]): FalcoRuleIndex {
  const byName = new Map<string, number[]>();
  const byTag = new Map<string, number[]>();
  const byPrefix: number[] = [];
  const byTagsOnly: number[] = [];
  const add = (map: Map<string, number[]>, key: string, i: number) => {
    const list = map.get(key) ?? [];
    if (!list.includes(i)) list.push(i);
    map.set(key, list);
  };
  rules.forEach((r, i) => {
    for (const name of r.match.rule ?? []) add(byName, name, i);
    for (const tag of r.match.tag ?? []) add(byTag, tag, i);
    if (r.match.outputPrefix) byPrefix.push(i);
    if (!r.match.rule && !r.match.tag && !r.match.outputPrefix) byTagsOnly.push(i);
  });
  return { byName, byTag, byPrefix, byTagsOnly };
}

/** Where the built-in defaults live. */
export function defaultPlaybookConfigPath(): string {
  return join(packageRoot(), 'config', 'playbooks.json');
}

/** Reads and validates a playbook config file (the built-in defaults when no path is given). */
export function loadPlaybookConfig(path: string = defaultPlaybookConfigPath()): PlaybookConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read playbook config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Invalid playbook config: ${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parsePlaybookConfig(json, path);
}
