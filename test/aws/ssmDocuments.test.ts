/**
 * sentinel's SSM documents (deploy/ssm) and their loader. The files are checked as data (every
 * parameter typed and pattern-checked, no `{{` in script text, hostile values refused by the
 * patterns), their scripts are run under `sh` the way the SSM agent runs them (a script file,
 * parameters as SSM_<name> environment variables), and moto stores each one through the real SDK.
 * moto does not check SendCommand's parameters against the document (AWS answers
 * InvalidParameters): that gap is asserted here, and is why the bot checks them itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateDocumentCommand, DescribeDocumentCommand, GetDocumentCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import {
  checkSsmParameters,
  loadSsmDocuments,
  parseSsmDocument,
  SSM_DOCUMENT_DIR,
  SSM_DOCUMENTS,
  ssmDocument,
  ssmDocumentName,
  ssmDocumentSha256,
  ssmDocumentStep,
  type SsmDocumentFile,
} from '../../src/aws/ssmDocuments.js';
import { ConfigError, ValidationError } from '../../src/errors.js';
import { createMotoClients, uniqueName } from '../support/aws.js';

const docs = loadSsmDocuments();
const byName = Object.fromEntries(docs.map((d) => [d.name, d])) as Record<string, SsmDocumentFile>;
const script = (d: SsmDocumentFile) => d.content.mainSteps[0]!.inputs.runCommand.join('\n');

/** A value each parameter accepts (what the actions send in a typical run). */
const VALID: Record<string, Record<string, string>> = {
  'incident-collect-volatile': { item: 'processes', webRoots: '/var/www /srv/app-1/public_html', modifiedWithinMinutes: '1440', executionTimeout: '300' },
  'incident-capture-memory': {
    region: 'ap-northeast-2',
    moduleBucket: 'lime-modules',
    moduleKey: 'lime/5.10.220-209.869.amzn2.x86_64/lime.ko',
    moduleSha256: 'a'.repeat(64),
    outputBucket: 'evidence.bucket-1',
    imageKey: 'evidence/inc-1/memory/i-0123456789abcdef0/20261120T032000Z.lime',
    port: '4444',
    executionTimeout: '3600',
  },
  'workstation-collect-disk': {
    incident: 'inc-1_a',
    sourceInstanceId: 'i-0123456789abcdef0',
    bucket: 'evidence-bucket',
    key: 'evidence/inc-1/disk/i-0123456789abcdef0-0a1b2c3d4e5f.tar.gz',
    region: 'us-east-1',
    volumes: '1:vol-0123456789abcdef0:/dev/sdf 2:vol-0123456789abcdef1:/dev/sdg',
    webRoots: '/var/www /srv/app',
    maxFileKiB: '524288',
    executionTimeout: '3600',
  },
  'incident-kernel-release': {},
};

/** Everything a shell gives meaning to. */
const SHELL_META = [';', '&', '|', '$', '`', "'", '"', '\\', '<', '>', '(', ')', '{', '}', '*', '?', '[', ']', '!', '#', '~', '\n', '\r', '\t', '\0'];
const HOSTILE = ['; reboot', '$(id)', '`id`', '\nid', "'", '"', '| sh', '&& id', '> /etc/passwd', '${IFS}'];

describe('the shipped documents', () => {
  it('are the four documents the actions send, named for where they run, sorted', () => {
    expect(docs.map((d) => d.name)).toEqual(['incident-capture-memory', 'incident-collect-volatile', 'incident-kernel-release', 'workstation-collect-disk']);
    expect(Object.values(SSM_DOCUMENTS).sort()).toEqual(docs.map((d) => d.name));
    for (const d of docs) {
      expect(d.name).toMatch(/^(incident|workstation)-[a-z0-9-]+$/);
      expect(d.content.schemaVersion).toBe('2.2');
      expect(d.content.mainSteps).toHaveLength(1);
      expect(d.content.mainSteps[0]).toMatchObject({ action: 'aws:runShellScript', precondition: { StringEquals: ['platformType', 'Linux'] } });
      expect(ssmDocument(d.name as never)).toEqual(d);
    }
    // The default directory is deploy/ssm of the package.
    expect(SSM_DOCUMENT_DIR()).toBe(join(import.meta.dirname, '../../deploy/ssm'));
  });

  it('give every parameter a type and an anchored allowedPattern, and the samples pass them', () => {
    for (const d of docs) {
      const params = d.content.parameters ?? {};
      expect(Object.keys(params).sort(), d.name).toEqual(Object.keys(VALID[d.name]!).sort());
      for (const [name, p] of Object.entries(params)) {
        expect(p.type, `${d.name}.${name}`).toBe('String');
        expect(p.allowedPattern, `${d.name}.${name}`).toMatch(/^\^.*\$$/);
        expect(new RegExp(p.allowedPattern).test(VALID[d.name]![name]!), `${d.name}.${name}`).toBe(true);
        if (p.default !== undefined) expect(new RegExp(p.allowedPattern).test(p.default), `${d.name}.${name} default`).toBe(true);
      }
      expect(checkSsmParameters(d, VALID[d.name]!)).toEqual(Object.fromEntries(Object.entries(VALID[d.name]!).map(([k, v]) => [k, [v]])));
    }
  });

  it('hand every value to the script as an SSM_ environment variable: ENV_VAR, read quoted, and no {{ in the script', () => {
    for (const d of docs) {
      const text = script(d);
      expect(text, d.name).not.toContain('{{');
      for (const [name, p] of Object.entries(d.content.parameters ?? {})) {
        if (name === 'executionTimeout') {
          // The one parameter that is substituted: into timeoutSeconds, never into script text.
          expect(p.interpolationType).toBeUndefined();
          expect(d.content.mainSteps[0]!.inputs.timeoutSeconds).toBe('{{ executionTimeout }}');
          expect(text).not.toContain('executionTimeout');
          continue;
        }
        expect(p.interpolationType, `${d.name}.${name}`).toBe('ENV_VAR');
        expect(text, `${d.name}.${name}`).toMatch(new RegExp(`"\\$\\{?SSM_${name}\\b`));
        // Outside double quotes only as an assignment (no splitting there), or as the word list of
        // `for r in`, after the script checked its characters (and with globbing off).
        for (const line of text.split('\n').filter((l) => l.includes(`$SSM_${name}`) || l.includes(`\${SSM_${name}`))) {
          const unquoted = line.replace(/'[^']*'/g, "''").replace(/"(?:[^"\\]|\\.)*"/g, '""');
          if (unquoted.includes(`$SSM_${name}`)) expect(unquoted, `${d.name}: ${line}`).toMatch(new RegExp(`^\\s*(for r in \\$SSM_${name}; do|[A-Z_]+=\\$SSM_${name})$`));
        }
      }
    }
    expect(byName['incident-kernel-release']!.content.mainSteps[0]!.inputs).toEqual({ timeoutSeconds: '60', runCommand: ['uname -r'] });
  });

  it('refuse hostile values with their patterns: shell characters, command substitution, newlines, quotes, ..', () => {
    for (const d of docs) {
      for (const [name, p] of Object.entries(d.content.parameters ?? {})) {
        const re = new RegExp(p.allowedPattern);
        const good = VALID[d.name]![name]!;
        for (const bad of HOSTILE) {
          for (const value of [`${good}${bad}`, `${bad}${good}`, `${good.slice(0, 1)}${bad}${good.slice(1)}`]) expect(re.test(value), `${d.name}.${name} ${JSON.stringify(value)}`).toBe(false);
        }
        expect(re.test(`${good}\n`), `${d.name}.${name} trailing newline`).toBe(false);
        expect(re.test(''), `${d.name}.${name} empty`).toBe(false);
      }
    }
    // Paths and keys: no . or .. segment, no empty segment, nothing relative.
    const paths = { webRoots: ['/var/www/../../etc', '/var/./www', '/var//www', 'var/www', '/', '/var/www/', '/var/www  /srv', ' /var/www', '/var/www/..'] };
    for (const doc of ['incident-collect-volatile', 'workstation-collect-disk']) {
      for (const v of paths.webRoots) expect(new RegExp(byName[doc]!.content.parameters!.webRoots!.allowedPattern).test(v), `${doc} ${v}`).toBe(false);
    }
    const keys = ['evidence/../x', 'evidence/./x', '/evidence/x', 'evidence//x', 'evidence/x/', '..', '.'];
    for (const [doc, param] of [['incident-capture-memory', 'moduleKey'], ['incident-capture-memory', 'imageKey'], ['workstation-collect-disk', 'key']] as const) {
      for (const k of keys) expect(new RegExp(byName[doc]!.content.parameters![param]!.allowedPattern).test(k), `${doc}.${param} ${k}`).toBe(false);
    }
    // Names that merely contain dots are fine.
    expect(new RegExp(byName['incident-capture-memory']!.content.parameters!.moduleKey!.allowedPattern).test('lime/6.1.0+x/..lime.ko')).toBe(true);
    // Fixed choices stay fixed.
    const item = new RegExp(byName['incident-collect-volatile']!.content.parameters!.item!.allowedPattern);
    for (const bad of ['processes ', 'Processes', 'processes;id', 'all', '*']) expect(item.test(bad)).toBe(false);
    const volumes = new RegExp(byName['workstation-collect-disk']!.content.parameters!.volumes!.allowedPattern);
    for (const bad of ['1:vol-0123456789abcdef0:/dev/sda', '0:vol-0123456789abcdef0:/dev/sdf', '12:vol-0123456789abcdef0:/dev/sdf', '1:vol-XYZ:/dev/sdf', '1:vol-0123456789abcdef0:/dev/sdf ']) {
      expect(volumes.test(bad), bad).toBe(false);
    }
  });

  it('refuse any value with a shell character, whatever else it holds (property)', () => {
    const params = docs.flatMap((d) => Object.entries(d.content.parameters ?? {}).map(([name, p]) => ({ where: `${d.name}.${name}`, re: new RegExp(p.allowedPattern), good: VALID[d.name]![name]! })));
    fc.assert(
      fc.property(fc.constantFrom(...params), fc.string({ maxLength: 20 }), fc.constantFrom(...SHELL_META), fc.nat(), ({ where, re, good }, noise, meta, at) => {
        const base = `${good}${noise}`;
        const i = at % (base.length + 1);
        const value = `${base.slice(0, i)}${meta}${base.slice(i)}`;
        expect(re.test(value), `${where} ${JSON.stringify(value)}`).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('are valid POSIX sh', () => {
    for (const d of docs) {
      for (const shell of ['dash', 'bash']) {
        const r = spawnSync(shell, ['-n'], { input: script(d), encoding: 'utf8' });
        expect({ doc: d.name, shell, status: r.status, stderr: r.stderr }).toEqual({ doc: d.name, shell, status: 0, stderr: '' });
      }
    }
  });

  it('fail closed, doing nothing, when the agent passes no SSM_ variables (an agent too old for ENV_VAR)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-old-agent-'));
    try {
      for (const [name, code] of [['incident-collect-volatile', 3], ['incident-capture-memory', 9], ['workstation-collect-disk', 3]] as const) {
        const file = join(dir, `${name}.sh`);
        writeFileSync(file, script(byName[name]!));
        // A PATH with nothing in it: any command past the check would fail loudly instead of running.
        const r = spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: join(dir, 'empty') } });
        expect({ name, status: r.status, stdout: r.stdout }).toEqual({ name, status: code, stdout: '' });
        expect(r.stderr).toBe('sentinel: the SSM agent passed no SSM_ parameter variables (interpolationType ENV_VAR needs SSM Agent 3.3.2746.0 or later)\n');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check the values again inside the script, should the agent ever pass one its pattern refuses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-recheck-'));
    try {
      const marker = join(dir, 'ran');
      const run = (name: string, env: Record<string, string>) => {
        const file = join(dir, `${name}.sh`);
        writeFileSync(file, script(byName[name]!));
        return spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
      };
      const volatile = run('incident-collect-volatile', { SSM_item: 'web-recent-files', SSM_webRoots: `/tmp;touch ${marker}`, SSM_modifiedWithinMinutes: '5' });
      expect(volatile.status).toBe(2);
      const traversal = run('incident-collect-volatile', { SSM_item: 'web-recent-files', SSM_webRoots: '/var/www/../../etc', SSM_modifiedWithinMinutes: '5' });
      expect(traversal.status).toBe(2);
      const memory = run('incident-capture-memory', { ...env(VALID['incident-capture-memory']!), SSM_moduleKey: `x/$(touch ${marker})/lime.ko` });
      expect(memory.status).toBe(9);
      const disk = run('workstation-collect-disk', { ...env(VALID['workstation-collect-disk']!), SSM_volumes: `1:vol-0123456789abcdef0:/dev/sdf;touch ${marker}` });
      expect(disk.status).toBe(3);
      expect(() => readFileSync(marker)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Parameters as the agent passes them with interpolationType ENV_VAR. */
function env(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`SSM_${k}`, v]));
}

describe('checkSsmParameters: what the document would refuse fails in the bot', () => {
  const volatile = () => byName['incident-collect-volatile']!;

  it('refuses unknown names, missing required values, pattern and length violations, naming each', () => {
    const err = (() => {
      try {
        checkSsmParameters(byName['incident-capture-memory']!, { region: 'ap-northeast-2;id', moduleBucket: 'ab', commands: 'id' });
      } catch (e) {
        return e as ValidationError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.code).toBe('InvalidSsmParameter');
    expect(err!.message).toContain('commands is not a parameter of incident-capture-memory');
    expect(err!.message).toContain('region "ap-northeast-2;id" does not match');
    expect(err!.message).toContain('moduleBucket "ab" is shorter than 3 characters');
    for (const required of ['moduleKey', 'outputBucket', 'imageKey']) expect(err!.message).toContain(`${required} is required`);
    // Defaulted parameters may be left out.
    expect(checkSsmParameters(volatile(), { item: 'kernel-modules' })).toEqual({ item: ['kernel-modules'] });
    expect(() => checkSsmParameters(volatile(), { item: 'kernel-modules', webRoots: Array.from({ length: 11 }, (_, i) => `/srv/${i}`).join(' ') })).toThrow(/does not match/);
    expect(() => checkSsmParameters(volatile(), { item: 'web-recent-files', webRoots: `/${'a'.repeat(2010)}` })).toThrow(/longer than 2010 characters/);
    expect(() => checkSsmParameters(byName['incident-kernel-release']!, { commands: 'id' })).toThrow(/commands is not a parameter/);
  });
});

describe('the loader refuses a document that breaks the rules', () => {
  const good = () => JSON.parse(JSON.stringify(byName['incident-collect-volatile']!.content)) as Record<string, any>;
  const cases: [string, (d: Record<string, any>) => void, RegExp][] = [
    ['a value substituted into script text', (d) => d.mainSteps[0].inputs.runCommand.push('echo {{ item }}'), /contains \{\{/],
    ['a parameter without allowedPattern', (d) => delete d.parameters.item.allowedPattern, /allowedPattern/],
    ['a pattern that is not anchored', (d) => (d.parameters.item.allowedPattern = '[a-z]+'), /anchored/],
    ['a lookahead (RE2 has none)', (d) => (d.parameters.item.allowedPattern = '^(?!x)[a-z]+$'), /lookaround/],
    ['a parameter that is not a String', (d) => (d.parameters.item.type = 'StringList'), /type/],
    ['an ENV_VAR parameter the script never reads', (d) => (d.parameters.extra = { type: 'String', description: 'x', allowedPattern: '^x$', interpolationType: 'ENV_VAR' }), /never reads \$SSM_extra/],
    ['a script reading an undeclared variable', (d) => d.mainSteps[0].inputs.runCommand.push('echo "$SSM_other"'), /\$SSM_other, which is not an ENV_VAR parameter/],
    ['a non-ENV_VAR parameter outside the inputs', (d) => delete d.parameters.webRoots.interpolationType, /webRoots is not ENV_VAR/],
    ['a default its own pattern refuses', (d) => (d.parameters.webRoots.default = '/var/www;id'), /default of webRoots/],
    ['two steps', (d) => d.mainSteps.push(d.mainSteps[0]), /mainSteps/],
    ['another action', (d) => (d.mainSteps[0].action = 'aws:runPowerShellScript'), /action/],
    ['an unknown property', (d) => (d.parameters.item.allowedValues = ['processes']), /allowedValues/],
  ];
  it.each(cases)('%s', (_, mutate, message) => {
    const d = good();
    mutate(d);
    expect(() => parseSsmDocument('incident-collect-volatile', d)).toThrow(ConfigError);
    expect(() => parseSsmDocument('incident-collect-volatile', d)).toThrow(message);
  });

  it('refuses file names outside the naming convention, a directory without documents, and a file that is not JSON', () => {
    for (const name of ['collect-volatile', 'incident_collect', 'Incident-x', 'workstation-', 'aws-incident-x']) {
      expect(() => parseSsmDocument(name, good()), name).toThrow(/incident-<what> or workstation-<what>/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'ssm-docs-'));
    try {
      expect(() => loadSsmDocuments(dir)).toThrow(/no \*\.json SSM documents/);
      expect(() => loadSsmDocuments(join(dir, 'missing'))).toThrow(/cannot read the SSM document directory/);
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'incident-x.json'), '{ not json');
      expect(() => loadSsmDocuments(dir)).toThrow(/cannot read SSM document .*incident-x\.json/);
      writeFileSync(join(dir, 'incident-x.json'), JSON.stringify(good()));
      expect(loadSsmDocuments(dir).map((d) => d.name)).toEqual(['incident-x']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('names', () => {
  it('are <prefix>-<basename>, valid SSM document names', () => {
    expect(ssmDocumentName('sentinel', 'incident-collect-volatile')).toBe('sentinel-incident-collect-volatile');
    expect(ssmDocumentName('sec-prod', 'workstation-collect-disk')).toBe('sec-prod-workstation-collect-disk');
    expect(() => ssmDocumentName('aws', 'incident-x')).toThrow(ConfigError);
    expect(() => ssmDocumentName('amazonian', 'incident-x')).toThrow(ConfigError);
    expect(() => ssmDocumentName('a b', 'incident-x')).toThrow(ConfigError);
    expect(ssmDocumentStep(byName['workstation-collect-disk']!)).toBe('collectDisk');
  });
});

describe('against moto', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createMotoClients();
  });
  afterAll(() => destroyAwsClients(aws));

  it('stores every document as provision creates it (Content = JSON.stringify(content)), with its parameters and hash', async () => {
    const prefix = uniqueName('s');
    for (const d of docs) {
      const Name = ssmDocumentName(prefix, d.name);
      await aws.ssm.send(new CreateDocumentCommand({ Name, Content: JSON.stringify(d.content), DocumentType: 'Command', DocumentFormat: 'JSON' }));
      const described = await aws.ssm.send(new DescribeDocumentCommand({ Name }));
      expect(described.Document?.SchemaVersion).toBe('2.2');
      expect(described.Document?.Hash).toBe(ssmDocumentSha256(d));
      expect((described.Document?.Parameters ?? []).map((p) => [p.Name, p.Type]).sort()).toEqual(Object.entries(d.content.parameters ?? {}).map(([n, p]) => [n, p.type]).sort());
      const fetched = await aws.ssm.send(new GetDocumentCommand({ Name }));
      expect(JSON.parse(fetched.Content!)).toEqual(d.content);
    }
  });

  it('GAP: moto accepts SendCommand with values the document refuses, and documents that do not exist (AWS: InvalidParameters, InvalidDocument)', async () => {
    const prefix = uniqueName('s');
    const d = byName['incident-collect-volatile']!;
    const Name = ssmDocumentName(prefix, d.name);
    await aws.ssm.send(new CreateDocumentCommand({ Name, Content: JSON.stringify(d.content), DocumentType: 'Command', DocumentFormat: 'JSON' }));
    const sent = await aws.ssm.send(new SendCommandCommand({ InstanceIds: ['i-0000000000000dead'], DocumentName: Name, Parameters: { item: ['processes; reboot'] } }));
    expect(sent.Command?.Status).toBe('Success');
    const listed = await aws.ssm.send(new ListCommandsCommand({ CommandId: sent.Command!.CommandId! }));
    expect(listed.Commands?.[0]).toMatchObject({ DocumentName: Name, Parameters: { item: ['processes; reboot'] } });
    const missing = await aws.ssm.send(new SendCommandCommand({ InstanceIds: ['i-0000000000000dead'], DocumentName: `${prefix}-incident-nothing`, Parameters: {} }));
    expect(missing.Command?.Status).toBe('Success');
    // What the bot does instead: the same value never leaves it.
    expect(() => checkSsmParameters(d, { item: 'processes; reboot' })).toThrow(ValidationError);
  });
});
