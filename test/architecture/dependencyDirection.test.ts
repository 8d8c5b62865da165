/**
 * The dependency direction (issue 13, item 5): cli → bot → handlers → pipeline, with the stores
 * beside them usable by all. Every import of every file under src/ (static, type-only, re-exports,
 * side-effect and dynamic import()) is read with TypeScript's own pre-processor and resolved to a
 * file; a rule names a layer and the layers it must not import. The checker is a pure function,
 * tested on synthetic imports first so this test is known to fail when a rule is broken.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Import {
  /** The importing file, repository-relative (`src/handlers/handleTask.ts`). */
  from: string;
  /** The imported file, repository-relative, or the package name for a bare specifier. */
  to: string;
}

interface Rule {
  /** Files this rule applies to: path prefixes. */
  layer: readonly string[];
  /** What those files must not import: path prefixes. */
  forbidden: readonly string[];
  why: string;
}

const LOWER = ['src/aws/', 'src/kube/', 'src/policy/', 'src/provision/', 'src/util/', 'src/config.ts', 'src/errors.ts', 'src/logger.ts'];

const RULES: readonly Rule[] = [
  { layer: ['src/handlers/'], forbidden: ['src/bot/', 'src/cli/'], why: 'handlers use what the bot gives them through src/handlers/ports and the handler context, never the bot itself' },
  { layer: ['src/pipeline/'], forbidden: ['src/bot/', 'src/cli/', 'src/handlers/'], why: 'the pipeline (triage, actions, planning) knows nothing of Discord, handlers or the CLI' },
  { layer: ['src/stores/'], forbidden: ['src/bot/', 'src/cli/', 'src/handlers/'], why: 'the stores are shared state both sides use, so they depend on neither' },
  { layer: ['src/bot/'], forbidden: ['src/cli/'], why: 'the CLI starts the bot, not the other way round' },
  { layer: LOWER, forbidden: ['src/bot/', 'src/cli/', 'src/handlers/'], why: 'clients, policy, provisioning and utilities sit below every layer' },
];

const under = (path: string, prefixes: readonly string[]) => prefixes.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));

/** Every import that breaks a rule, as `from → to (why)`. Pure. */
function findViolations(imports: readonly Import[], rules: readonly Rule[]): string[] {
  const out: string[] = [];
  for (const i of imports) {
    for (const r of rules) {
      if (under(i.from, r.layer) && under(i.to, r.forbidden)) out.push(`${i.from} → ${i.to} (${r.why})`);
    }
  }
  return out;
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return listTs(path);
    return /\.(?:ts|mts|cts|tsx)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The imports of one file's text: relative specifiers resolved to repository paths (`.js` read as `.ts`). */
function importsOf(file: string, text: string): Import[] {
  const from = relative(ROOT, file);
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith('.')) return { from, to: fileName };
    const target = relative(ROOT, resolve(dirname(file), fileName)).replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts');
    return { from, to: target };
  });
}

function srcImports(): Import[] {
  return listTs(join(ROOT, 'src')).flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));
}

describe('the checker', () => {
  it('reads every kind of import, and resolves relative ones to files', () => {
    const file = join(ROOT, 'src/handlers/example.ts');
    const text = [
      "import { a } from '../bot/startBot.js';",
      "import type { B } from './ports/outbox.js';",
      "export * from '../stores/auditLog.js';",
      "export { c } from '../cli/main.js';",
      "import '../bot/sideEffect.js';",
      "const d = await import('../pipeline/actions/registry.js');",
      "import { z } from 'zod';",
      "// import { no } from '../bot/comment.js';",
    ].join('\n');
    expect(importsOf(file, text).map((i) => i.to)).toEqual([
      'src/bot/startBot.ts',
      'src/handlers/ports/outbox.ts',
      'src/stores/auditLog.ts',
      'src/cli/main.ts',
      'src/bot/sideEffect.ts',
      'src/pipeline/actions/registry.ts',
      'zod',
    ]);
  });

  it('flags an import against the direction, and only those', () => {
    const imports: Import[] = [
      { from: 'src/handlers/handleTask.ts', to: 'src/bot/engine/stepFunctionsEngine.ts' },
      { from: 'src/handlers/handleTask.ts', to: 'src/handlers/ports/playbookEngine.ts' },
      { from: 'src/pipeline/actions/containment/denyEgress.ts', to: 'src/handlers/context.ts' },
      { from: 'src/pipeline/actions/containment/denyEgress.ts', to: 'src/pipeline/planning/planEgressDeny.ts' },
      { from: 'src/stores/approvalStore.ts', to: 'src/bot/discordPort.ts' },
      { from: 'src/stores/approvalStore.ts', to: 'src/policy/checkVote.ts' },
      { from: 'src/bot/startBot.ts', to: 'src/handlers/context.ts' },
      { from: 'src/bot/startBot.ts', to: 'src/cli/main.ts' },
      { from: 'src/cli/startCommand.ts', to: 'src/bot/startBot.ts' },
      { from: 'src/aws/localObjectStore.ts', to: 'src/stores/storeIo.ts' },
      { from: 'src/config.ts', to: 'src/bot/selectRunMode.ts' },
      { from: 'src/handlers-old/x.ts', to: 'src/bot/x.ts' },
    ];
    expect(findViolations(imports, RULES).map((v) => v.split(' (')[0])).toEqual([
      'src/handlers/handleTask.ts → src/bot/engine/stepFunctionsEngine.ts',
      'src/pipeline/actions/containment/denyEgress.ts → src/handlers/context.ts',
      'src/stores/approvalStore.ts → src/bot/discordPort.ts',
      'src/bot/startBot.ts → src/cli/main.ts',
      'src/config.ts → src/bot/selectRunMode.ts',
    ]);
  });
});

describe('src/', () => {
  const imports = srcImports();

  it('is read whole: every layer has files and imports', () => {
    expect(imports.length).toBeGreaterThan(1000);
    for (const layer of ['src/bot/', 'src/cli/', 'src/handlers/', 'src/handlers/ports/', 'src/handlers/render/', 'src/pipeline/', 'src/stores/']) {
      expect(imports.filter((i) => i.from.startsWith(layer)).length, layer).toBeGreaterThan(5);
    }
    // The bot uses the handlers (it wires them) and the handlers the pipeline: the direction is real.
    expect(imports.some((i) => i.from.startsWith('src/bot/') && i.to.startsWith('src/handlers/'))).toBe(true);
    expect(imports.some((i) => i.from.startsWith('src/handlers/') && i.to.startsWith('src/pipeline/'))).toBe(true);
    expect(imports.some((i) => i.from.startsWith('src/handlers/') && i.to.startsWith('src/stores/'))).toBe(true);
  });

  it('imports only along cli → bot → handlers → pipeline, with the stores depending on none of them', () => {
    expect(findViolations(imports, RULES)).toEqual([]);
  });

  it('resolves every relative import to a file that exists (no import left behind by a move)', () => {
    const files = new Set(listTs(join(ROOT, 'src')).map((f) => relative(ROOT, f)));
    const dangling = imports.filter((i) => i.to.startsWith('src/') && /\.m?ts$/.test(i.to) && !files.has(i.to)).map((i) => `${i.from} → ${i.to}`);
    expect(dangling).toEqual([]);
  });
});

describe('the actions', () => {
  it('are grouped by kind: containment, evidence, forensics, with only shared modules at the root', () => {
    const dir = join(ROOT, 'src/pipeline/actions');
    const entries = readdirSync(dir, { withFileTypes: true });
    expect(entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()).toEqual(['containment', 'evidence', 'forensics']);
    expect(entries.filter((e) => e.isFile()).map((e) => e.name).sort()).toEqual(['parseActionInput.ts', 'podFileInput.ts', 'registry.ts', 'resolveInstance.ts', 'types.ts']);
    // Every action the registry loads lives in one of the kinds.
    const registry = readFileSync(join(dir, 'registry.ts'), 'utf8');
    const loaded = [...registry.matchAll(/import\('\.\/([^']+)\.js'\)/g)].map((m) => m[1]!);
    expect(loaded.length).toBeGreaterThan(20);
    for (const path of loaded) expect(path, path).toMatch(/^(?:containment|evidence|forensics)\/[A-Za-z]+$/);
  });
});
