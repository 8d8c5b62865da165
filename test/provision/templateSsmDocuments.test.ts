import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSsmDocument, type SsmDocumentFile } from '../../src/aws/ssmDocuments.js';
import { ssmDocumentLogicalId, syncTemplateSsmDocuments, withSsmDocuments } from '../../src/provision/templateSsmDocuments.js';

function doc(name: string, description: string): SsmDocumentFile {
  return parseSsmDocument(name, {
    schemaVersion: '2.2',
    description,
    mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { timeoutSeconds: '60', runCommand: ['uname -r'] } }],
  });
}

const TEMPLATE = {
  AWSTemplateFormatVersion: '2010-09-09',
  Resources: {
    Queue: { Type: 'AWS::SQS::Queue', Properties: {} },
    EvidenceBucket: { Type: 'AWS::S3::Bucket', Properties: {} },
    SsmDocumentIncidentGone: { Type: 'AWS::SSM::Document', Properties: { Name: 'old' } },
    Role: { Type: 'AWS::IAM::Role', Properties: {} },
  },
};

describe('the template\'s SSM documents', () => {
  it('names each resource after its file', () => {
    expect(ssmDocumentLogicalId('incident-collect-volatile')).toBe('SsmDocumentIncidentCollectVolatile');
    expect(ssmDocumentLogicalId('workstation-collect-disk')).toBe('SsmDocumentWorkstationCollectDisk');
  });

  it('has exactly one Command document per file, after the evidence bucket, and removes the others', () => {
    const a = doc('incident-a', 'a');
    const { template, changed } = withSsmDocuments(TEMPLATE, [a, doc('workstation-b', 'b')]);
    expect(changed).toEqual(['SsmDocumentIncidentA', 'SsmDocumentIncidentGone', 'SsmDocumentWorkstationB']);
    expect(Object.keys(template.Resources as object)).toEqual(['Queue', 'EvidenceBucket', 'SsmDocumentIncidentA', 'SsmDocumentWorkstationB', 'Role']);
    expect((template.Resources as Record<string, unknown>).SsmDocumentIncidentA).toEqual({
      Type: 'AWS::SSM::Document',
      Properties: { Name: { 'Fn::Sub': '${Prefix}-incident-a' }, DocumentType: 'Command', DocumentFormat: 'JSON', UpdateMethod: 'NewVersion', Content: a.content },
    });
    // Again with the same files: nothing changes.
    expect(withSsmDocuments(template, [a, doc('workstation-b', 'b')]).changed).toEqual([]);
    // A changed file changes only its resource.
    expect(withSsmDocuments(template, [a, doc('workstation-b', 'b2')]).changed).toEqual(['SsmDocumentWorkstationB']);
  });

  it('rewrites the file only when something changed, keeping its JSON layout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-template-'));
    try {
      const file = join(dir, 'sentinel.json');
      writeFileSync(file, `${JSON.stringify(TEMPLATE, null, 2)}\n`);
      expect(syncTemplateSsmDocuments(file, [doc('incident-a', 'a')])).toEqual(['SsmDocumentIncidentA', 'SsmDocumentIncidentGone']);
      const text = readFileSync(file, 'utf8');
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
      expect(syncTemplateSsmDocuments(file, [doc('incident-a', 'a')])).toEqual([]);
      expect(readFileSync(file, 'utf8')).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
