/**
 * The build context as Docker sees it through `.dockerignore`: patterns anchored at the context's
 * root (unlike .gitignore, `node_modules` excludes only the top-level one), `*` and `?` within one
 * path segment, `**` across any number of them, `[…]` classes, `\` escapes, `!` to take a path
 * back in, the last matching pattern deciding. A path is excluded when a pattern matches it or
 * one of its parent directories, as Docker's pattern matcher does.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

interface Rule {
  pattern: string;
  negated: boolean;
  regex: RegExp;
}

export class DockerignoreError extends Error {
  override name = 'DockerignoreError';
}

function escapeRegex(c: string): string {
  return /[.+^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** One pattern (already cleaned) as a regular expression over `/`-separated relative paths. */
function toRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?'; // `**/`: zero or more directories
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new DockerignoreError(`unterminated [ in .dockerignore pattern ${pattern}`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) throw new DockerignoreError(`trailing \\ in .dockerignore pattern ${pattern}`);
      re += escapeRegex(pattern[++i]!);
    } else {
      re += escapeRegex(c);
    }
  }
  return new RegExp(`^${re}$`);
}

/** Like Go's filepath.Clean for a relative, `/`-separated pattern; leading `/` and `./` removed. */
function clean(pattern: string): string {
  const normal = posix.normalize(pattern.replace(/^\/+/, ''));
  return normal === '.' ? '' : normal.replace(/\/+$/, '');
}

export interface Dockerignore {
  /** Whether a path relative to the context root (`/`-separated) is left out of the build context. */
  excludes(relativePath: string): boolean;
  patterns: readonly string[];
}

export function parseDockerignore(text: string): Dockerignore {
  const rules: Rule[] = [];
  for (const raw of text.replace(/\r\n/g, '\n').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = clean(negated ? line.slice(1).trim() : line);
    if (!pattern) continue; // `.` and `/` are ignored, as Docker does
    rules.push({ pattern: `${negated ? '!' : ''}${pattern}`, negated, regex: toRegex(pattern) });
  }
  return {
    patterns: rules.map((r) => r.pattern),
    excludes(relativePath: string) {
      const path = clean(relativePath);
      const parents: string[] = [];
      const parts = path.split('/');
      for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
      let excluded = false;
      for (const rule of rules) {
        if (parents.some((p) => rule.regex.test(p))) excluded = !rule.negated;
      }
      return excluded;
    },
  };
}

/** Every file under `dir` (relative to `root`, `/`-separated) that the build context holds. */
export function contextFiles(root: string, dir: string, ignore: Dockerignore): string[] {
  const out: string[] = [];
  // With no `!` rule, nothing under an excluded directory can come back: skip it whole (node_modules).
  const canReinclude = ignore.patterns.some((p) => p.startsWith('!'));
  const walk = (rel: string) => {
    const abs = join(root, rel);
    if (statSync(abs).isDirectory()) {
      if (rel && !canReinclude && ignore.excludes(rel)) return;
      for (const name of readdirSync(abs).sort()) walk(rel ? `${rel}/${name}` : name);
    } else if (!ignore.excludes(rel)) {
      out.push(rel);
    }
  };
  walk(dir);
  return out;
}
