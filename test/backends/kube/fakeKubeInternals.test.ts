import { mkdtempSync, rmSync, symlinkSync, mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../support/fakeKube/patch.js';
import { KubeError } from '../../support/fakeKube/status.js';
import { PrefixRewriter } from '../../support/fakeKube/rewrite.js';
import { SandboxRefusal, resolveOnHost, translateArgs } from '../../support/fakeKube/sandbox.js';
import { matchesLabelSelector } from '../../support/fakeKube/selectors.js';
import type { KubeObject } from '../../support/fakeKube/types.js';

const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'fakekube-unit-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('PrefixRewriter', () => {
  it('rewrites the root prefix even when it is split across chunks', async () => {
    const text = `${root}/a\n${root}\nx${root}/b/c`;
    const bytes = Buffer.from(text);
    for (const size of [1, 3, root.length - 1, root.length, root.length + 1, 1000]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const out = await buffer(Readable.from(chunks).pipe(new PrefixRewriter(root)));
      expect(out.toString(), `chunk size ${size}`).toBe('/a\n/\nx/b/c');
    }
  });

  it('passes binary data through unchanged', async () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256));
    const out = await buffer(Readable.from([data.subarray(0, 30_000), data.subarray(30_000)]).pipe(new PrefixRewriter(root)));
    expect(out.equals(data)).toBe(true);
  });
});

describe('sandbox', () => {
  mkdirSync(path.join(root, 'var/www'), { recursive: true });
  symlinkSync('..', path.join(root, 'var/www/parent'));
  symlinkSync('/', path.join(root, 'slash'));

  it('resolves symlinks before ..', () => {
    expect(resolveOnHost(`${root}/var/www/parent/www`)).toBe(`${root}/var/www`);
    expect(resolveOnHost(`${root}/slash/etc`)).toBe('/etc');
    expect(resolveOnHost(`${root}/missing/../..`)).toBe(path.dirname(root));
  });

  it('translates absolute operands, keeps relative ones and refuses escapes', () => {
    expect(translateArgs('cat', ['--', '/var/www/x', 'rel', '-dash'], root)).toEqual(['--', `${root}/var/www/x`, 'rel', '-dash']);
    expect(translateArgs('cp', ['--target-directory=/var/www', 'a'], root)).toEqual([`--target-directory=${root}/var/www`, 'a']);
    expect(() => translateArgs('cat', ['/slash/etc/passwd'], root)).toThrow(SandboxRefusal);
    expect(() => translateArgs('cat', ['../x'], root)).toThrow(SandboxRefusal);
    expect(() => translateArgs('cp', ['-t/etc', 'a'], root)).toThrow(SandboxRefusal);
    expect(() => translateArgs('chmod', ['-RL', '0777', '/var'], root)).toThrow(SandboxRefusal);
    expect(() => translateArgs('wc', ['--files0-from=/list'], root)).toThrow(SandboxRefusal);
    expect(() => translateArgs('find', ['/', '-execdir', 'sh', ';'], root)).toThrow(SandboxRefusal);
  });
});

describe('patches and selectors', () => {
  const obj = { metadata: { labels: { a: '1', 'app.kubernetes.io/name': 'x' } }, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } };

  it('merge patch deletes with null', () => {
    expect(mergePatch(obj, { metadata: { labels: { a: null, b: '2' } } })).toEqual({
      metadata: { labels: { 'app.kubernetes.io/name': 'x', b: '2' } },
      spec: obj.spec,
    });
  });

  it('strategic merge merges taints by key', () => {
    const out = strategicMergePatch(obj, { spec: { taints: [{ key: 'n', effect: 'NoExecute' }, { key: 'k', $patch: 'delete' }] } });
    expect(out).toMatchObject({ spec: { taints: [{ key: 'n', effect: 'NoExecute' }] } });
  });

  it('JSON patch honours ~1 escapes and fails replace on a missing key', () => {
    expect(jsonPatch(obj, [{ op: 'remove', path: '/metadata/labels/app.kubernetes.io~1name' }])).toMatchObject({ metadata: { labels: { a: '1' } } });
    let thrown: unknown;
    try {
      jsonPatch(obj, [{ op: 'replace', path: '/metadata/labels/zzz', value: 'v' }]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KubeError);
    expect((thrown as KubeError).code).toBe(422);
    expect((thrown as KubeError).body.details?.causes?.[0]?.message).toMatch(/^replace operation does not apply/);
  });

  it('label selectors: =, !=, exists, !exists, in, notin', () => {
    const o = { metadata: { labels: { app: 'web', tier: 'fe' } } } as unknown as KubeObject;
    expect(matchesLabelSelector(o, 'app=web,tier')).toBe(true);
    expect(matchesLabelSelector(o, 'app==web,!quarantine')).toBe(true);
    expect(matchesLabelSelector(o, 'app!=web')).toBe(false);
    expect(matchesLabelSelector(o, 'tier in (fe, be),app notin (db)')).toBe(true);
    expect(matchesLabelSelector(o, 'tier notin (fe)')).toBe(false);
    expect(() => matchesLabelSelector(o, 'app=we b')).toThrow(/unable to parse/);
  });
});
