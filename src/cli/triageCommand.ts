import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { loadPlaybookConfig } from '../pipeline/triage/playbookConfig.js';
import { readEvents } from '../pipeline/triage/readEvents.js';
import { triageEvent } from '../pipeline/triage/triageEvent.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import type { CliContext } from './types.js';

export interface TriageCommandOptions {
  json: boolean;
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
  ];
  return safe(parts.join('  '));
}

/** `sentinel triage [--json] [FILE...]`: one output line per input event, in order. Resolves to the exit status. */
export async function runTriage(options: TriageCommandOptions, ctx: CliContext): Promise<number> {
  const playbooks = loadPlaybookConfig(ctx.config.playbooksPath);
  let failed = false;
  const write = (line: string) => ctx.stdout.write(`${line}\n`);

  const handle = async (input: Readable, file?: string) => {
    for await (const item of readEvents(input)) {
      const outcome = 'error' in item ? { ok: false as const, error: item.error } : triageEvent(item.value, playbooks);
      if (outcome.ok) {
        write(options.json ? JSON.stringify(outcome.result) : describe(outcome.result));
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

