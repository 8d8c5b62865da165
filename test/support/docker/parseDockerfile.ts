/**
 * A Dockerfile parser for the instructions sentinel's Dockerfile uses, with Docker's rules for
 * them: `#` comments and parser directives, `\` line continuations, exec (JSON) and shell forms,
 * `ARG` before the first `FROM` (usable in `FROM`), `${VAR}` / `$VAR` / `${VAR:-default}`
 * substitution in the instructions Docker substitutes in, and the flags of COPY, RUN and
 * HEALTHCHECK. Anything else (another instruction, flag, heredoc, escape directive) is refused by
 * name: the image build check must never guess.
 */

export class DockerfileError extends Error {
  override name = 'DockerfileError';
}

/** A command in exec form (argv) or shell form (run by `/bin/sh -c`). */
export type Command = { form: 'exec'; argv: string[] } | { form: 'shell'; script: string };

export interface CopyInstruction {
  kind: 'COPY';
  line: number;
  /** Sources, relative to the build context (or to the stage's root with `from`). */
  sources: string[];
  dest: string;
  /** `--from=<stage>`: copy from an earlier stage's file system. */
  from?: string;
  /** `--chown`, `--chmod`, `--link`: kept for the record; they change no content. */
  flags: Record<string, string>;
}

export interface CacheMount {
  /** Path inside the image; nothing written there stays in the layer. */
  target: string;
}

export interface RunInstruction {
  kind: 'RUN';
  line: number;
  command: Command;
  cacheMounts: CacheMount[];
}

export interface Healthcheck {
  command: Command;
  options: Record<string, string>;
}

export type StageInstruction =
  | CopyInstruction
  | RunInstruction
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'ENV'; line: number; values: Record<string, string> }
  | { kind: 'ARG'; line: number; name: string; default?: string }
  | { kind: 'USER'; line: number; user: string };

export interface Stage {
  index: number;
  name?: string;
  /** The base image, ARGs substituted. */
  image: string;
  line: number;
  instructions: StageInstruction[];
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: Healthcheck;
  expose: string[];
  labels: Record<string, string>;
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
  directives: Record<string, string>;
}

interface LogicalLine {
  line: number;
  instruction: string;
  rest: string;
}

const KNOWN_DIRECTIVES = new Set(['syntax', 'check']);

/** Joins continuation lines and drops comments, keeping the line each instruction starts on. */
function logicalLines(text: string): { lines: LogicalLine[]; directives: Record<string, string> } {
  const physical = text.replace(/\r\n/g, '\n').split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  // Parser directives: `# key=value` lines at the very top, before any other line.
  for (; i < physical.length; i++) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$/.exec(physical[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key === 'escape') throw new DockerfileError(`line ${i + 1}: the escape directive is not supported (only the default \\)`);
    if (!KNOWN_DIRECTIVES.has(key)) break; // an ordinary comment that looks like one
    directives[key] = m[2]!;
  }
  const lines: LogicalLine[] = [];
  let current: { line: number; text: string } | undefined;
  for (; i < physical.length; i++) {
    const raw = physical[i]!;
    const trimmed = raw.trim();
    // Comment lines are removed before continuations are joined, also inside an instruction.
    if (trimmed.startsWith('#')) continue;
    if (!current) {
      if (trimmed === '') continue;
      current = { line: i + 1, text: '' };
    }
    const continued = /\\\s*$/.test(raw);
    current.text += continued ? raw.replace(/\\\s*$/, '') : raw;
    if (!continued) {
      lines.push(split(current));
      current = undefined;
    }
  }
  if (current) lines.push(split(current));
  return { lines, directives };
}

function split(l: { line: number; text: string }): LogicalLine {
  const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(l.text);
  if (!m) throw new DockerfileError(`line ${l.line}: not an instruction: ${l.text.trim().slice(0, 60)}`);
  const rest = (m[2] ?? '').trim();
  if (/<<-?\s*["']?[A-Za-z_]/.test(rest) && /^(RUN|COPY)$/i.test(m[1]!)) {
    throw new DockerfileError(`line ${l.line}: heredocs are not supported`);
  }
  return { line: l.line, instruction: m[1]!.toUpperCase(), rest };
}

/** `["a", "b"]` → argv, or undefined when the text is not a JSON array of strings (then it is shell form). */
function execForm(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(rest);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
  } catch {
    // Docker treats an unparsable [ … ] as shell form.
  }
  return undefined;
}

function command(rest: string): Command {
  const argv = execForm(rest);
  return argv ? { form: 'exec', argv } : { form: 'shell', script: rest };
}

/** Leading `--name=value` / `--name` flags, and what follows them. */
function flags(rest: string, line: number, allowed: readonly string[], what: string): { flags: Record<string, string>; rest: string } {
  const out: Record<string, string> = {};
  let remaining = rest;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(remaining);
    if (!m) break;
    if (!allowed.includes(m[1]!)) throw new DockerfileError(`line ${line}: ${what} --${m[1]} is not supported`);
    out[m[1]!] = m[2] ?? 'true';
    remaining = remaining.slice(m[0].length);
  }
  return { flags: out, rest: remaining };
}

/** Docker's word splitting for COPY and ENV: whitespace separates, quotes group, backslash escapes. */
function words(text: string, line: number): string[] {
  const out: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new DockerfileError(`line ${line}: unterminated quote`);
  if (inWord) out.push(word);
  return out;
}

/** Substitutes `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` as Docker does. */
export function substitute(text: string, vars: Record<string, string | undefined>, line: number): string {
  return text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{[^}]*\}/g, (whole, braced?: string, op?: string, word?: string, bare?: string) => {
    if (whole === '\\$') return '$';
    const name = braced ?? bare;
    if (!name) throw new DockerfileError(`line ${line}: unsupported substitution ${whole}`);
    const value = vars[name];
    if (op === ':-') return value ? value : (word ?? '');
    if (op === ':+') return value ? (word ?? '') : '';
    return value ?? '';
  });
}

/** Parses the Dockerfile text into its stages. */
export function parseDockerfile(text: string): Dockerfile {
  const { lines, directives } = logicalLines(text);
  const globalArgs: Record<string, string | undefined> = {};
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  // What substitution sees in the current stage: its ARGs (declared in the stage) and ENVs.
  let scope: Record<string, string | undefined> = {};

  for (const l of lines) {
    const { line, instruction } = l;
    if (instruction === 'FROM') {
      const f = flags(l.rest, line, [], 'FROM');
      const parts = words(f.rest, line);
      if (!(parts.length === 1 || (parts.length === 3 && parts[1]!.toUpperCase() === 'AS'))) {
        throw new DockerfileError(`line ${line}: FROM <image> [AS <name>] expected`);
      }
      const image = substitute(parts[0]!, globalArgs, line);
      stage = { index: stages.length, image, line, instructions: [], expose: [], labels: {}, ...(parts[2] ? { name: parts[2].toLowerCase() } : {}) };
      stages.push(stage);
      scope = {};
      continue;
    }
    if (instruction === 'ARG') {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(l.rest.trim());
      if (!m) throw new DockerfileError(`line ${line}: ARG <name>[=<default>] expected`);
      const name = m[1]!;
      const def = m[2] === undefined ? undefined : (words(m[2], line)[0] ?? '');
      if (!stage) {
        globalArgs[name] = def;
      } else {
        // In a stage, `ARG NAME` without a default takes the global default.
        const value = def !== undefined ? substitute(def, scope, line) : globalArgs[name];
        scope[name] = value;
        stage.instructions.push({ kind: 'ARG', line, name, ...(value !== undefined ? { default: value } : {}) });
      }
      continue;
    }
    if (!stage) throw new DockerfileError(`line ${line}: ${instruction} before the first FROM`);
    switch (instruction) {
      case 'WORKDIR': {
        const path = substitute(l.rest, scope, line);
        const prev = [...stage.instructions].reverse().find((i) => i.kind === 'WORKDIR');
        const base = prev && prev.kind === 'WORKDIR' ? prev.path : '/';
        const resolved = path.startsWith('/') ? path : `${base.replace(/\/$/, '')}/${path}`;
        stage.instructions.push({ kind: 'WORKDIR', line, path: resolved });
        break;
      }
      case 'ENV': {
        const values: Record<string, string> = {};
        const parts = words(l.rest, line);
        if (parts.length >= 1 && !parts[0]!.includes('=')) {
          // Legacy `ENV NAME value with spaces`.
          const m = /^(\S+)\s+([\s\S]*)$/.exec(l.rest);
          if (!m) throw new DockerfileError(`line ${line}: ENV NAME=value expected`);
          values[m[1]!] = substitute(m[2]!, scope, line);
        } else {
          for (const p of parts) {
            const eq = p.indexOf('=');
            if (eq <= 0) throw new DockerfileError(`line ${line}: ENV NAME=value expected, got ${p}`);
            values[p.slice(0, eq)] = substitute(p.slice(eq + 1), scope, line);
          }
        }
        Object.assign(scope, values);
        stage.instructions.push({ kind: 'ENV', line, values });
        break;
      }
      case 'COPY': {
        const f = flags(l.rest, line, ['from', 'chown', 'chmod', 'link'], 'COPY');
        const argv = execForm(f.rest) ?? words(f.rest, line);
        const paths = argv.map((p) => substitute(p, scope, line));
        if (paths.length < 2) throw new DockerfileError(`line ${line}: COPY needs a source and a destination`);
        const { from, ...rest } = f.flags;
        stage.instructions.push({ kind: 'COPY', line, sources: paths.slice(0, -1), dest: paths.at(-1)!, flags: rest, ...(from ? { from: from.toLowerCase() } : {}) });
        break;
      }
      case 'RUN': {
        const f = flags(l.rest, line, ['mount'], 'RUN');
        const cacheMounts: CacheMount[] = [];
        if (f.flags.mount) {
          const opts = Object.fromEntries(f.flags.mount.split(',').map((kv) => kv.split('=') as [string, string]));
          if (opts.type !== 'cache' || !opts.target) throw new DockerfileError(`line ${line}: only RUN --mount=type=cache,target=<path> is supported`);
          const unknown = Object.keys(opts).filter((k) => !['type', 'target', 'id', 'sharing'].includes(k));
          if (unknown.length) throw new DockerfileError(`line ${line}: --mount option(s) ${unknown.join(', ')} not supported`);
          cacheMounts.push({ target: opts.target });
        }
        stage.instructions.push({ kind: 'RUN', line, command: command(f.rest), cacheMounts });
        break;
      }
      case 'USER': {
        const user = substitute(l.rest, scope, line);
        stage.user = user;
        stage.instructions.push({ kind: 'USER', line, user });
        break;
      }
      case 'ENTRYPOINT':
      case 'CMD': {
        const argv = execForm(l.rest);
        if (!argv) throw new DockerfileError(`line ${line}: ${instruction} must use the exec form (["…", "…"]) so signals reach node`);
        if (instruction === 'ENTRYPOINT') stage.entrypoint = argv;
        else stage.cmd = argv;
        break;
      }
      case 'HEALTHCHECK': {
        const f = flags(l.rest, line, ['interval', 'timeout', 'start-period', 'start-interval', 'retries'], 'HEALTHCHECK');
        const m = /^CMD\s+([\s\S]+)$/i.exec(f.rest);
        if (!m) throw new DockerfileError(`line ${line}: HEALTHCHECK [options] CMD <command> expected (NONE is not supported)`);
        stage.healthcheck = { command: command(m[1]!.trim()), options: f.flags };
        break;
      }
      case 'EXPOSE':
        stage.expose.push(...words(substitute(l.rest, scope, line), line));
        break;
      case 'LABEL': {
        for (const p of words(l.rest, line)) {
          const eq = p.indexOf('=');
          if (eq <= 0) throw new DockerfileError(`line ${line}: LABEL key=value expected`);
          stage.labels[p.slice(0, eq)] = substitute(p.slice(eq + 1), scope, line);
        }
        break;
      }
      default:
        throw new DockerfileError(`line ${line}: ${instruction} is not supported by the image build check`);
    }
  }
  if (!stages.length) throw new DockerfileError('no FROM: the Dockerfile has no stage');
  return { globalArgs, stages, directives };
}
