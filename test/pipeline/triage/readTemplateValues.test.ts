import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileOutputTemplate, type OutputTemplate } from '../../../src/pipeline/triage/outputTemplate.js';
import { findKeys, keyValueField, parseByEveryReading, parseKeyValues, parseWithTemplate, readTemplateValues } from '../../../src/pipeline/triage/parseOutputText.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';

/**
 * readTemplateValues reads a text in one pass when every separator occurs once; parseWithTemplate
 * uses it first. Both must answer exactly as the search of every reading (parseByEveryReading),
 * on texts made to confuse them: separators repeated, overlapping, out of order, inside values.
 */

/** parseWithTemplate and readTemplateValues held to the reference on one text. */
function agrees(text: string, template: OutputTemplate): void {
  const reference = parseByEveryReading(text, template);
  expect(parseWithTemplate(text, template)).toEqual(reference);
  const values = readTemplateValues(text, template);
  if (values === null) expect(reference).toBeNull();
  if (values) {
    expect(reference).not.toBeNull();
    expect(reference!.ambiguous).toEqual([]);
    expect(template.fields.map((f) => reference!.fields[f.name])).toEqual(values);
  }
}

// Templates over a small alphabet, so that separators repeat, overlap and sit inside one another.
const literalChars = fc.constantFrom(' ', '=', ':', 'a', 'b', '|', ' =', ' a=', 'b:');
const literal = fc.array(literalChars, { minLength: 1, maxLength: 3 }).map((a) => a.join(''));
const fieldType = fc.constantFrom('', ':text', ':token', ':path', ':port', ':k8sName', ':hex', ':ip', ':hostname');
const templateArb = fc
  .record({
    head: fc.option(literal, { nil: '' }),
    inner: fc.array(fc.tuple(fieldType, literal), { minLength: 0, maxLength: 5 }),
    last: fieldType,
    tail: fc.option(literal, { nil: '' }),
  })
  .map(({ head, inner, last, tail }) => {
    let t = head;
    inner.forEach(([type, sep], i) => (t += `{f${i}${type}}${sep}`));
    return `${t}{f${inner.length}${last}}${tail}`;
  })
  .map((source) => ({ source, template: compileOutputTemplate(source) }));

const valueArb = fc.oneof(
  fc.constantFrom('', 'x', '1', '80', '65536', '/p', '/a b', 'a-b', 'A', 'ff', '10.0.0.1', '::1', ' ', '\t', '\u00a0', '\u2028', 'é'),
  fc.string({ maxLength: 4 }),
);

describe('readTemplateValues and parseWithTemplate against the search of every reading', () => {
  it("agree on texts built from the template's own separators and hostile values", () => {
    fc.assert(
      fc.property(templateArb, fc.array(fc.oneof(literal, valueArb), { maxLength: 14 }), ({ template }, pieces) => {
        agrees(pieces.join(''), template);
      }),
      { numRuns: 3000 },
    );
  });

  it('agree on texts that fill the template, some values carrying separators', () => {
    fc.assert(
      fc.property(
        templateArb.chain(({ template }) =>
          fc.tuple(fc.constant(template), fc.array(fc.oneof({ weight: 3, arbitrary: valueArb }, { weight: 1, arbitrary: fc.array(fc.oneof(literal, valueArb), { maxLength: 4 }).map((a) => a.join('')) }), { minLength: template.fields.length, maxLength: template.fields.length })),
        ),
        ([template, values]) => {
          let text = template.literals[0]!;
          values.forEach((v, i) => (text += v + template.literals[i + 1]!));
          agrees(text, template);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("agree on the shipped config's templates filled with values that pose as fields", () => {
    const config = loadPlaybookConfig();
    const templates = [...config.falco.templates.values()].flat();
    const separators = [...new Set(templates.flatMap((t) => t.literals.filter((l) => l !== '')))];
    const sepArb = fc.constantFrom(...separators, ' ', '=', '/', ' | ');
    const value = fc.oneof(
      fc.constantFrom('sh', 'root', 'dvwa', 'ip-10-0-12-34.ap-northeast-2.compute.internal', '3f2a9c1b7d4e', '/var/www/x.php', '/tmp/a b', '203.0.113.45', '4444', '<NA>', '', 'kube-system'),
      fc.array(fc.oneof(sepArb, fc.constantFrom('x', 'p1', '/w', '1')), { maxLength: 5 }).map((a) => a.join('')),
    );
    fc.assert(
      fc.property(fc.constantFrom(...templates), fc.array(value, { minLength: 40, maxLength: 40 }), (template, values) => {
        let text = template.literals[0]!;
        for (let i = 0; i < template.fields.length; i++) text += values[i]! + template.literals[i + 1]!;
        agrees(text, template);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a text whose separators occur once each in one pass, and leaves a repeated one to the search', () => {
    const t = compileOutputTemplate('proc={proc} cmdline={cmdline} user={user} pod={pod} ns={ns}');
    expect(readTemplateValues('proc=sh cmdline=sh -c id user=root pod=p1 ns=n1', t)).toEqual(['sh', 'sh -c id', 'root', 'p1', 'n1']);
    // ` user=` twice: one pass cannot tell which is the separator.
    expect(readTemplateValues('proc=sh cmdline=x user=a user=root pod=p1 ns=n1', t)).toBeUndefined();
    expect(parseWithTemplate('proc=sh cmdline=x user=a user=root pod=p1 ns=n1', t)?.fields).toMatchObject({ cmdline: 'x user=a', user: 'root' });
    // A separator missing, or a value of the wrong type: no reading.
    expect(readTemplateValues('proc=sh cmdline=x pod=p1 ns=n1', t)).toBeNull();
    expect(readTemplateValues('proc=sh cmdline=x user=root pod=P_1 ns=n1', t)).toBeNull();
  });

  it('counts an occurrence that overlaps another separator (the end of one is the start of the next)', () => {
    // `: ` ends ` Port: ` and starts `: User`; the text `Port: User: ` holds both, overlapping.
    const t = compileOutputTemplate('Port: {port} User: {user} Command: {cmdline}');
    agrees('Port: 4444 User: root Command: sh', t);
    agrees('Port: 4444 User: User: root Command: sh', t);
    const o = compileOutputTemplate('a={a} b={b}a={c}');
    agrees('a=1 b=2a=3', o);
    agrees('a=1 b=a=3', o);
  });
});

describe('keyValueField against parseKeyValues', () => {
  /** Every lookup triage makes of one name, as parseKeyValues answers it. */
  function expected(text: string, name: string) {
    const all = parseKeyValues(text);
    if (all.ambiguous.includes(name)) return { kind: 'ambiguous', readings: all.readings[name] };
    if (all.invalid.includes(name)) return { kind: 'invalid' };
    return Object.hasOwn(all.fields, name) ? { kind: 'value', value: all.fields[name] } : { kind: 'absent' };
  }
  const keyArb = fc.constantFrom('proc', 'process', 'proc.name', 'ns', 'k8s_ns', 'k8s.ns.name', 'pod', 'user', 'cmdline', 'command', 'reason', 'fd.rip', 'rip', 'x', '_a.b', '9a', 'constructor', 'toString', '__proto__');
  const pieceArb = fc.oneof(
    keyArb.map((k) => `${k}=`),
    keyArb.map((k) => ` ${k}=`),
    fc.constantFrom(' ', '  ', '\t', '\u00a0', '\u2028', '=', '(', ')', 'a', '1', 'p1', '/x', 'root', '<NA>', '10.0.0.1', 'kube-system', 'A_B'),
    fc.string({ maxLength: 4 }),
  );
  it('reads one field as parseKeyValues reads them all, on hostile text', () => {
    fc.assert(
      fc.property(fc.array(pieceArb, { maxLength: 30 }), fc.constantFrom('proc', 'ns', 'pod', 'user', 'cmdline', 'reason', 'rip', 'x', 'process', 'constructor', 'toString', '__proto__', 'not a key', '[object Object]'), (pieces, name) => {
        const text = pieces.join('');
        expect(keyValueField(text, findKeys(text), name)).toEqual(expected(text, name));
      }),
      { numRuns: 5000 },
    );
  });

  it('finds the keys parseKeyValues finds: at the start or after whitespace, a key then =', () => {
    expect(findKeys('a=1 b=2')).toEqual([0, 0, 1, 3, 4, 5]);
    expect(findKeys('x a=b=1 9a=2 .c=3\td=4')).toEqual([1, 2, 3, 17, 18, 19]);
    expect(keyValueField('proc=sh cmdline=sh -c id user=root', findKeys('proc=sh cmdline=sh -c id user=root'), 'cmdline')).toEqual({ kind: 'value', value: 'sh -c id' });
  });
});
