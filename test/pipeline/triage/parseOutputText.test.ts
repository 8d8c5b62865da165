import { describe, expect, it } from 'vitest';
import { compileOutputTemplate } from '../../../src/pipeline/triage/outputTemplate.js';
import { MAX_READINGS, parseKeyValues, parseWithTemplate } from '../../../src/pipeline/triage/parseOutputText.js';

const exec = compileOutputTemplate('proc={proc} cmdline={cmdline} user={user} pod={pod} ns={ns}');

describe('parseWithTemplate', () => {
  it('reads every field of a line that fits', () => {
    const r = parseWithTemplate('proc=sh cmdline=sh -c id user=root pod=p1 ns=n1', exec);
    expect(r).toEqual({ fields: { proc: 'sh', cmdline: 'sh -c id', user: 'root', pod: 'p1', ns: 'n1' }, ambiguous: [], invalid: [], readings: {} });
  });

  it('keeps injected fields inside the free-text value', () => {
    const r = parseWithTemplate('proc=sh cmdline=x user=a pod=evil ns=kube-system user=root pod=p1 ns=n1', exec);
    expect(r?.fields).toMatchObject({ cmdline: 'x user=a pod=evil ns=kube-system', user: 'root', pod: 'p1', ns: 'n1' });
  });

  it('marks a field ambiguous when two readings both fit', () => {
    const t = compileOutputTemplate('a={a} b={b}');
    const r = parseWithTemplate('a=1 b=2 b=3', t);
    expect(r?.ambiguous.sort()).toEqual(['a', 'b']);
    expect(r?.readings).toEqual({ a: ['1', '1 b=2'], b: ['2 b=3', '3'] });
  });

  it('gives every reading of an ambiguous path; a path reading starts with /', () => {
    const t = compileOutputTemplate('src={src} dst={dst} proc={proc} cmdline={cmdline} user={user}');
    const r = parseWithTemplate('src=/tmp/p dst=/w/a proc=x cmdline=.php proc=apache2 cmdline=apache2 user=www', t);
    expect(r?.ambiguous).toContain('dst');
    expect(r?.readings.dst).toEqual(['/w/a', '/w/a proc=x cmdline=.php']);
    // `dst=` inside a value is no new reading when what follows it is not a path.
    expect(parseWithTemplate('src=/tmp/p dst=/w/a dst=b proc=p cmdline=c user=u', compileOutputTemplate('src={src} dst={dst} proc={proc} cmdline={cmdline} user={user}'))?.fields.dst).toBe('/w/a dst=b');
  });

  it('keeps at most MAX_READINGS + 1 readings of a field that has a great many', () => {
    const t = compileOutputTemplate('dst={dst} proc={proc} cmdline={cmdline}');
    const r = parseWithTemplate(`dst=/w/a${' proc=x cmdline=y'.repeat(40)}`, t);
    expect(r?.ambiguous).toContain('dst');
    expect(r?.readings.dst).toHaveLength(MAX_READINGS + 1);
  });

  it('returns null when the line does not fit the template', () => {
    expect(parseWithTemplate('totally different', exec)).toBeNull();
    expect(parseWithTemplate('proc=sh cmdline=x user=root pod=P_BAD ns=n1', exec)).toBeNull();
  });

  it('accepts an empty free-text value', () => {
    expect(parseWithTemplate('proc=sh cmdline= user=root pod=p ns=n', exec)?.fields.cmdline).toBe('');
  });

  it('stays fast on many repeated keys', () => {
    const line = `proc=sh cmdline=${' user=x pod=y ns=z'.repeat(5000)} user=root pod=p1 ns=n1`;
    const r = parseWithTemplate(line, exec);
    expect(r?.fields.ns).toBe('n1');
  });
});

describe('compileOutputTemplate', () => {
  it('refuses adjacent fields, duplicates and unknown types', () => {
    expect(() => compileOutputTemplate('{a}{b}')).toThrow(/nothing between/);
    expect(() => compileOutputTemplate('a={a} b={a}')).toThrow(/twice/);
    expect(() => compileOutputTemplate('a={a:number}')).toThrow(/unknown field type/);
    expect(() => compileOutputTemplate('no fields')).toThrow(/at least one/);
  });
});

describe('parseKeyValues', () => {
  it('runs a value to the next key', () => {
    expect(parseKeyValues('cmdline=sh -c id;uname -a container=dvwa').fields).toEqual({ cmdline: 'sh -c id;uname -a', container: 'dvwa' });
  });

  it('maps aliases to canonical names', () => {
    expect(parseKeyValues('k8s_ns_name=shop k8s_pod_name=api-1 container_name=api').fields).toEqual({ ns: 'shop', pod: 'api-1', container: 'api' });
  });

  it('drops the closing parenthesis of stock Falco output', () => {
    expect(parseKeyValues('(user=root k8s_pod=api-1)').fields.pod).toBe('api-1');
  });

  it('reports values of the wrong shape as invalid', () => {
    const r = parseKeyValues('ns=Not_A_Namespace pod=p');
    expect(r.invalid).toEqual(['ns']);
    expect(r.fields).toEqual({ pod: 'p' });
  });
});
