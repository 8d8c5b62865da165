import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Explanation } from '../pipeline/triage/explanation.js';
import { loadPlaybookConfig } from '../pipeline/triage/playbookConfig.js';
import { readInputs } from '../pipeline/triage/readEvents.js';
import { triageEvent, triageLine, type ExplainedOutcome } from '../pipeline/triage/triageEvent.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import type { CliContext } from './types.js';

export interface TriageCommandOptions {
  json: boolean;
  /** Also say which playbook rules matched and why, and which did not. */
  explain?: boolean;
  files: string[];
}

// Control characters (ANSI escapes, CR) in event text must not reach a terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
function safe(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describe(r: TriageResult): string {
  const t = r.target;
  const target = [
    t.node && `node=${t.node}`,
    t.namespace && `ns=${t.namespace}`,
    t.pod && `pod=${t.pod}`,
    t.container && `container=${t.container}`,
    t.instanceId && `instance=${t.instanceId}`,
  ].filter(Boolean);
  const parts = [
    r.route.padEnd(13),
    r.severity.padEnd(8),
    r.source.padEnd(9),
    r.rule,
    ...(target.length ? [target.join(' ')] : []),
    ...(r.ioc ? [`ioc=${r.ioc.ip.includes(':') ? `[${r.ioc.ip}]` : r.ioc.ip}${r.ioc.port ? `:${r.ioc.port}` : ''}`] : []),
    ...(r.artifact?.path ? [`file=${r.artifact.path}`] : []),
    ...(r.artifact?.candidates ? [`file-candidates=${r.artifact.candidates.length}`] : []),
    ...(r.custom ? [Object.entries(r.custom).map(([k, v]) => `${k}=${v}`).join(' ')] : []),
    ...(r.observe ? ['(dry run)'] : []),
  ];
  return safe(parts.join('  '));
}

/** The explanation as indented lines under the event's line. */
function describeExplanation(e: Explanation): string[] {
  const lines = [`  event: ${e.event.join('; ')}`];
  for (const r of e.rules) {
    const flags = [r.continue ? 'continue' : '', r.dryRun ? 'dryRun' : ''].filter(Boolean);
    lines.push(`  rule ${r.rule}${r.name ? ` ${JSON.stringify(r.name)}` : ''} → ${r.route ?? '(no route)'}${flags.length ? ` [${flags.join(', ')}]` : ''}: ${r.outcome}`);
    const identities = r.checks.filter((c) => c.identity).length;
    for (const c of r.checks) {
      lines.push(`      ${c.ok ? '✓' : '✗'} ${c.identity && identities > 1 ? 'either ' : ''}${c.condition}: ${c.value}`);
    }
  }
  for (const d of e.decision) lines.push(`  decision: ${d}`);
  return lines.map(safe);
}

/**
 * `sentinel triage [--json] [--explain] [FILE...]`: one output line per input event, in order.
 * Input is JSON (documents, arrays, NDJSON, GuardDuty GetFindings output) or Falco's text lines;
 * Falco's own log lines are skipped with a note. Resolves to the exit status: 1 when any event
 * could not be triaged (skipped lines do not count).
 */
export async function runTriage(options: TriageCommandOptions, ctx: CliContext): Promise<number> {
  const playbooks = loadPlaybookConfig(ctx.config.playbooksPath);
  const explain = options.explain === true;
  let failed = false;
  const write = (line: string) => ctx.stdout.write(`${line}\n`);

  const handle = async (input: Readable, file?: string) => {
    for await (const item of readInputs(input)) {
      const outcome: ExplainedOutcome =
        'error' in item ? { ok: false, error: item.error } : 'text' in item ? triageLine(item.text, playbooks, { explain }) : triageEvent(item.value, playbooks, { explain });
      if (outcome.ok) {
        if (options.json) {
          write(JSON.stringify(outcome.explanation ? { ...outcome.result, explain: outcome.explanation } : outcome.result));
        } else {
          write(describe(outcome.result));
          if (outcome.explanation) for (const l of describeExplanation(outcome.explanation)) write(l);
        }
      } else if (outcome.skipped) {
        ctx.logger.debug('line skipped', { line: item.line, file, reason: outcome.error });
        write(
          options.json
            ? JSON.stringify({ skipped: outcome.error, line: item.line, ...(file ? { file } : {}) })
            : safe(`skipped${file ? ` ${file}` : ''} line ${item.line}: ${outcome.error}`),
        );
      } else {
        failed = true;
        ctx.logger.debug('event not triaged', { line: item.line, file, reason: outcome.error });
        write(
          options.json
            ? JSON.stringify({ error: outcome.error, line: item.line, ...(file ? { file } : {}) })
            : safe(`error${file ? ` ${file}` : ''} line ${item.line}: ${outcome.error}`),
        );
      }
    }
  };

  if (options.files.length === 0) {
    await handle(ctx.stdin);
  } else {
    for (const file of options.files) {
      const stream = createReadStream(file, { encoding: 'utf8' });
      try {
        await handle(stream, file);
      } catch (err) {
        failed = true;
        const why = `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        write(options.json ? JSON.stringify({ error: why, line: 0, file }) : safe(`error ${why}`));
      }
    }
  }
  return failed ? 1 : 0;
}
