import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSsmDocuments, type SsmDocumentFile } from '../aws/ssmDocuments.js';
import { ConfigError } from '../errors.js';
import { packageRoot } from '../util/packageRoot.js';

/**
 * The CloudFormation template's `AWS::SSM::Document` resources, one per deploy/ssm/<name>.json,
 * built from the files: a test compares the template with the files, and `npm run
 * sync:template-ssm` rewrites these resources (and nothing else) when a file changed.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const TYPE = 'AWS::SSM::Document';
/** Where the documents go among the resources: after this one. */
const AFTER = 'EvidenceBucket';

/** `incident-collect-volatile` → `SsmDocumentIncidentCollectVolatile`. */
export function ssmDocumentLogicalId(basename: string): string {
  return `SsmDocument${basename
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}`;
}

/** The resource for one document: named `${Prefix}-<name>`, Command, JSON, content as in the file; an edit makes a new version. */
export function ssmDocumentResource(doc: SsmDocumentFile): JsonObject {
  return {
    Type: TYPE,
    Properties: {
      Name: { 'Fn::Sub': `\${Prefix}-${doc.name}` },
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
      Content: JSON.parse(JSON.stringify(doc.content)) as Json,
    },
  };
}

export interface SyncResult {
  template: JsonObject;
  /** Logical ids added, changed or removed. */
  changed: string[];
}

/** The template with exactly one document resource per file (others of that type removed), placed after the evidence bucket. */
export function withSsmDocuments(template: JsonObject, docs: readonly SsmDocumentFile[]): SyncResult {
  const resources = template.Resources;
  if (!resources || typeof resources !== 'object' || Array.isArray(resources)) throw new ConfigError('the template has no Resources');
  const wanted = new Map(docs.map((d) => [ssmDocumentLogicalId(d.name), ssmDocumentResource(d)] as const));
  const changed: string[] = [];
  const kept: [string, Json][] = [];
  for (const [id, r] of Object.entries(resources)) {
    const isDocument = typeof r === 'object' && r !== null && !Array.isArray(r) && r.Type === TYPE;
    if (!isDocument) kept.push([id, r]);
    else if (!wanted.has(id)) changed.push(id);
    else if (JSON.stringify(r) !== JSON.stringify(wanted.get(id))) changed.push(id);
  }
  for (const id of wanted.keys()) if (!(id in resources)) changed.push(id);
  const at = kept.findIndex(([id]) => id === AFTER);
  const documents: [string, Json][] = [...wanted.entries()];
  const ordered = at < 0 ? [...kept, ...documents] : [...kept.slice(0, at + 1), ...documents, ...kept.slice(at + 1)];
  return { template: { ...template, Resources: Object.fromEntries(ordered) }, changed: [...new Set(changed)].sort() };
}

/**
 * Rewrites the template file's SSM document resources from deploy/ssm (the template is kept in
 * `JSON.stringify(…, null, 2)` form, so nothing else in the file moves). Returns what changed.
 */
export function syncTemplateSsmDocuments(
  templatePath: string = join(packageRoot(), 'deploy', 'cloudformation', 'sentinel.json'),
  docs: readonly SsmDocumentFile[] = loadSsmDocuments(),
): string[] {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as JsonObject;
  const result = withSsmDocuments(template, docs);
  if (result.changed.length) writeFileSync(templatePath, `${JSON.stringify(result.template, null, 2)}\n`);
  return result.changed;
}
