import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, ValidationError } from '../errors.js';
import { packageRoot } from '../util/packageRoot.js';

/**
 * sentinel's own SSM Command documents (deploy/ssm/<name>.json): fixed scripts with typed,
 * pattern-checked parameters, sent instead of AWS-RunShellScript so that sentinel's role can be
 * allowed to run only these. `sentinel provision` and the CloudFormation template create them from
 * the same files as `<prefix>-<name>`; the actions send them by that name.
 *
 * Naming, which the IAM policy relies on: `incident-<what>` runs on a compromised instance (tagged
 * sentinel:incident first), `workstation-<what>` on the forensic workstation (sentinel:forensic=true).
 *
 * Every parameter is a String with an anchored allowedPattern (RE2 and JavaScript read these the
 * same way: no lookaround, no backreference). A parameter used by the script is
 * `interpolationType: ENV_VAR`, read as `"$SSM_<name>"`; the script text never contains `{{`. The
 * only `{{ }}` reference allowed is in a step's non-script inputs (timeoutSeconds).
 */

/** The documents the actions send (file basenames). */
export const SSM_DOCUMENTS = {
  collectVolatile: 'incident-collect-volatile',
  kernelRelease: 'incident-kernel-release',
  captureMemory: 'incident-capture-memory',
  collectDisk: 'workstation-collect-disk',
} as const;

export type SsmDocumentBasename = (typeof SSM_DOCUMENTS)[keyof typeof SSM_DOCUMENTS];

const BASENAME = /^(incident|workstation)-[a-z0-9]+(-[a-z0-9]+)*$/;
const PARAMETER_NAME = /^[A-Za-z][A-Za-z0-9]{0,49}$/;
/** SSM document names: `^[a-zA-Z0-9_\-.]{3,128}$`, and not starting with aws-, amazon or amzn. */
const SSM_NAME = /^[a-zA-Z0-9_.-]{3,128}$/;
/** What the regex engines differ on (lookaround, backreferences, named groups) is refused. */
const NON_PORTABLE_REGEX = /\(\?[=!<]|\\[1-9kpP]/;

const parameterSchema = z.strictObject({
  type: z.literal('String'),
  description: z.string().min(1),
  allowedPattern: z.string().min(3),
  interpolationType: z.literal('ENV_VAR').optional(),
  default: z.string().optional(),
  minChars: z.number().int().min(0).optional(),
  maxChars: z.number().int().min(1).optional(),
});

const stepSchema = z.strictObject({
  action: z.literal('aws:runShellScript'),
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/),
  precondition: z.strictObject({ StringEquals: z.tuple([z.literal('platformType'), z.literal('Linux')]) }).optional(),
  inputs: z.strictObject({
    timeoutSeconds: z.string().regex(/^([1-9][0-9]{0,5}|\{\{ [A-Za-z][A-Za-z0-9]* \}\})$/, 'a number of seconds or one {{ parameter }} reference'),
    runCommand: z.array(z.string()).min(1),
  }),
});

const contentSchema = z.strictObject({
  schemaVersion: z.literal('2.2'),
  description: z.string().min(1),
  parameters: z.record(z.string().regex(PARAMETER_NAME, 'a parameter name of letters and digits (it becomes SSM_<name>)'), parameterSchema).optional(),
  // One step: GetCommandInvocation then needs no PluginName, and the S3 output has one known path.
  mainSteps: z.array(stepSchema).length(1),
});

export type SsmDocumentContent = z.infer<typeof contentSchema>;
export type SsmDocumentParameter = z.infer<typeof parameterSchema>;

export interface SsmDocumentFile {
  /** The file name without `.json`, e.g. `incident-collect-volatile`. */
  name: string;
  content: SsmDocumentContent;
}

export const SSM_DOCUMENT_DIR = (): string => join(packageRoot(), 'deploy', 'ssm');

function compilePattern(file: string, param: string, pattern: string): RegExp {
  if (!pattern.startsWith('^') || !pattern.endsWith('$')) throw new ConfigError(`${file}: the allowedPattern of ${param} must be anchored with ^ and $`);
  if (NON_PORTABLE_REGEX.test(pattern)) throw new ConfigError(`${file}: the allowedPattern of ${param} uses lookaround or a backreference (RE2, which SSM uses, has neither)`);
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new ConfigError(`${file}: the allowedPattern of ${param} is not a regular expression: ${(err as Error).message}`, { cause: err });
  }
}

/** The checks zod cannot express: names, patterns, defaults, and that parameters reach the script only as SSM_ variables. */
function checkDocument(file: string, content: SsmDocumentContent): void {
  const params = content.parameters ?? {};
  const step = content.mainSteps[0]!;
  const script = step.inputs.runCommand.join('\n');
  if (script.includes('{{')) throw new ConfigError(`${file}: the script contains {{ (values reach it only as SSM_ environment variables, never by substitution)`);
  const referenced = new Set([...script.matchAll(/\bSSM_([A-Za-z][A-Za-z0-9]*)/g)].map((m) => m[1]!));
  const inInputs = new Set([...step.inputs.timeoutSeconds.matchAll(/\{\{ ([A-Za-z][A-Za-z0-9]*) \}\}/g)].map((m) => m[1]!));
  for (const [name, p] of Object.entries(params)) {
    const re = compilePattern(file, name, p.allowedPattern);
    if (p.default !== undefined && !re.test(p.default)) throw new ConfigError(`${file}: the default of ${name} does not match its allowedPattern`);
    if (p.interpolationType === 'ENV_VAR') {
      if (!referenced.has(name)) throw new ConfigError(`${file}: parameter ${name} is ENV_VAR but the script never reads $SSM_${name}`);
      if (inInputs.has(name)) throw new ConfigError(`${file}: parameter ${name} is ENV_VAR and also substituted into an input`);
    } else if (!inInputs.has(name)) {
      throw new ConfigError(`${file}: parameter ${name} is not ENV_VAR, so it may only be used in a non-script input such as timeoutSeconds, and it is not`);
    }
  }
  for (const name of referenced) {
    if (params[name]?.interpolationType !== 'ENV_VAR') throw new ConfigError(`${file}: the script reads $SSM_${name}, which is not an ENV_VAR parameter of the document`);
  }
  for (const name of inInputs) {
    if (!params[name]) throw new ConfigError(`${file}: {{ ${name} }} is not a parameter of the document`);
  }
}

/** Validates one document's parsed JSON (throws ConfigError naming the file and the problem). */
export function parseSsmDocument(name: string, raw: unknown, file = `${name}.json`): SsmDocumentFile {
  if (!BASENAME.test(name)) throw new ConfigError(`${file}: a document name must be incident-<what> or workstation-<what> (lower-case letters, digits, hyphens)`);
  const parsed = contentSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ConfigError(`${file} is not a valid sentinel SSM document: ${why}`);
  }
  checkDocument(file, parsed.data);
  return { name, content: parsed.data };
}

/**
 * Every `deploy/ssm/*.json` (or `dir`), validated, sorted by name: what `sentinel provision` and
 * the CloudFormation template create (as `<prefix>-<name>`, DocumentType Command, DocumentFormat
 * JSON, Content `JSON.stringify(content)`) and what the actions send. Throws ConfigError for an
 * unreadable directory, no documents, a file that is not JSON, or one that fails a check.
 */
export function loadSsmDocuments(dir: string = SSM_DOCUMENT_DIR()): SsmDocumentFile[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    throw new ConfigError(`cannot read the SSM document directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!files.length) throw new ConfigError(`no *.json SSM documents in ${dir}`);
  return files.map((file) => {
    const path = join(dir, file);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read SSM document ${path}: ${(err as Error).message}`, { cause: err });
    }
    return parseSsmDocument(file.slice(0, -'.json'.length), raw, path);
  });
}

let shipped: Map<string, SsmDocumentFile> | undefined;

/** One of the shipped documents (deploy/ssm, read and validated once). */
export function ssmDocument(name: SsmDocumentBasename): SsmDocumentFile {
  shipped ??= new Map(loadSsmDocuments().map((d) => [d.name, d]));
  const doc = shipped.get(name);
  if (!doc) throw new ConfigError(`the SSM document ${name}.json is missing from ${SSM_DOCUMENT_DIR()}`);
  return doc;
}

/** The deployed name: `<prefix>-<basename>`, e.g. `sentinel-incident-collect-volatile`. */
export function ssmDocumentName(prefix: string, basename: string): string {
  const name = `${prefix}-${basename}`;
  if (!SSM_NAME.test(name) || /^(aws-|amazon|amzn)/i.test(name)) {
    throw new ConfigError(`${JSON.stringify(name)} is not a valid SSM document name (letters, digits, _ - ., 3 to 128 characters, not starting with aws-, amazon or amzn)`);
  }
  return name;
}

/** sha256 of the document as sentinel creates it (`JSON.stringify(content)`): SSM's DocumentHash of that content. */
export function ssmDocumentSha256(doc: SsmDocumentFile): string {
  return createHash('sha256').update(JSON.stringify(doc.content)).digest('hex');
}

/** The document's only step: its name is where the agent writes output in S3 (`…/awsrunShellScript/<step>/stdout`). */
export function ssmDocumentStep(doc: SsmDocumentFile): string {
  return doc.content.mainSteps[0]!.name;
}

/**
 * Checks `values` against the document's declared parameters before anything is sent, the way
 * SSM and the agent would (unknown names, missing required values, allowedPattern, minChars,
 * maxChars), and returns them as SendCommand's `Parameters`. A value the document would refuse
 * fails here with ValidationError `InvalidSsmParameter` naming the parameter and the rule.
 */
export function checkSsmParameters(doc: SsmDocumentFile, values: Readonly<Record<string, string>>): Record<string, string[]> {
  const declared = doc.content.parameters ?? {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const p = declared[name];
    if (!p) {
      problems.push(`${name} is not a parameter of ${doc.name}`);
      continue;
    }
    if (typeof value !== 'string') {
      problems.push(`${name} is not a string`);
      continue;
    }
    const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    if (p.minChars !== undefined && value.length < p.minChars) problems.push(`${name} ${shown} is shorter than ${p.minChars} characters`);
    if (p.maxChars !== undefined && value.length > p.maxChars) problems.push(`${name} is longer than ${p.maxChars} characters`);
    if (!new RegExp(p.allowedPattern).test(value)) problems.push(`${name} ${shown} does not match ${p.allowedPattern.length > 120 ? 'its allowedPattern' : p.allowedPattern}`);
  }
  for (const [name, p] of Object.entries(declared)) {
    if (p.default === undefined && !(name in values)) problems.push(`${name} is required by ${doc.name}`);
  }
  if (problems.length) {
    throw new ValidationError(`refusing to send SSM document ${doc.name}: ${problems.join('; ')}`, { code: 'InvalidSsmParameter', details: { document: doc.name, problems } });
  }
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [v]]));
}
