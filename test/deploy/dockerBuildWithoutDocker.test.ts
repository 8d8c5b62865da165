/**
 * The image build check's own rules (test/support/docker), on small Dockerfiles and contexts made
 * here: .dockerignore as Docker reads it, the Dockerfile syntax it accepts and what it refuses, and
 * COPY / RUN / ENV / ARG / cache mounts doing what `docker build` does with them. The image test
 * (dockerImage.test.ts) relies on these.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWithoutDocker, hostPath, imageCommand, ImageBuildError, runProcess } from '../support/docker/buildWithoutDocker.js';
import { parseDockerignore } from '../support/docker/dockerignore.js';
import { DockerfileError, parseDockerfile } from '../support/docker/parseDockerfile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-ctx-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text, { mode: path.startsWith('bin/') ? 0o755 : 0o644 });
  }
  return dir;
}

describe('.dockerignore, read as Docker reads it', () => {
  it('anchors patterns at the context root, unlike .gitignore', () => {
    const ignore = parseDockerignore('node_modules\n/dist/\n# a comment\n\n./var\n');
    expect(ignore.excludes('node_modules/zod/index.js')).toBe(true);
    expect(ignore.excludes('src/node_modules/x.js')).toBe(false);
    expect(ignore.excludes('dist/src/main.js')).toBe(true);
    expect(ignore.excludes('var/audit.ndjson')).toBe(true);
    expect(ignore.excludes('src/var.ts')).toBe(false);
    expect(ignore.patterns).toEqual(['node_modules', 'dist', 'var']);
  });

  it('matches * and ? within one segment, ** across segments, [classes], and lets the last matching rule decide (!)', () => {
    const ignore = parseDockerignore('*.log\n**/*.map\nsrc/*/fixtures\n.env*\n!.env.example\ndocs/[a-c]*.md\nfile?.txt\n');
    expect(ignore.excludes('npm.log')).toBe(true);
    expect(ignore.excludes('logs/npm.log')).toBe(false); // `*` does not cross `/`
    expect(ignore.excludes('dist/src/a.js.map')).toBe(true);
    expect(ignore.excludes('a.js.map')).toBe(true); // `**/` also matches no directory
    expect(ignore.excludes('src/bot/fixtures/x.json')).toBe(true);
    expect(ignore.excludes('src/bot/deep/fixtures/x.json')).toBe(false);
    expect(ignore.excludes('.env')).toBe(true);
    expect(ignore.excludes('.env.local')).toBe(true);
    expect(ignore.excludes('.env.example')).toBe(false);
    expect(ignore.excludes('docs/build.md')).toBe(true);
    expect(ignore.excludes('docs/deploy.md')).toBe(false);
    expect(ignore.excludes('file1.txt')).toBe(true);
    expect(ignore.excludes('file10.txt')).toBe(false);
  });
});

describe('the Dockerfile parser', () => {
  it('joins continuation lines, skips comments, substitutes ARGs in FROM and ENV in later instructions', () => {
    const df = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=node:24-bookworm-slim',
        'FROM ${BASE} AS build',
        'ENV APP=/srv/app \\',
        '    # a comment inside the instruction',
        '    MODE=prod',
        'WORKDIR $APP',
        'COPY a.txt "b c.txt" ./',
        'RUN --mount=type=cache,target=/root/.npm echo "$MODE" \\',
        '  && echo done',
        'FROM ${BASE}',
        'COPY --from=build --chown=node:node /srv/app/out ./out',
        'HEALTHCHECK --interval=5s CMD ["node", "-e", "0"]',
        'ENTRYPOINT ["node", "bin/x"]',
        'CMD ["start"]',
      ].join('\n'),
    );
    expect(df.directives).toEqual({ syntax: 'docker/dockerfile:1' });
    expect(df.stages.map((s) => [s.name, s.image])).toEqual([
      ['build', 'node:24-bookworm-slim'],
      [undefined, 'node:24-bookworm-slim'],
    ]);
    const build = df.stages[0]!.instructions;
    expect(build[0]).toMatchObject({ kind: 'ENV', values: { APP: '/srv/app', MODE: 'prod' } });
    expect(build[1]).toMatchObject({ kind: 'WORKDIR', path: '/srv/app' });
    expect(build[2]).toMatchObject({ kind: 'COPY', sources: ['a.txt', 'b c.txt'], dest: './' });
    expect(build[3]).toMatchObject({ kind: 'RUN', cacheMounts: [{ target: '/root/.npm' }], command: { form: 'shell', script: 'echo "$MODE"   && echo done' } });
    const final = df.stages[1]!;
    expect(final.instructions[0]).toMatchObject({ kind: 'COPY', from: 'build', flags: { chown: 'node:node' }, sources: ['/srv/app/out'] });
    expect(final.healthcheck).toEqual({ command: { form: 'exec', argv: ['node', '-e', '0'] }, options: { interval: '5s' } });
    expect([final.entrypoint, final.cmd]).toEqual([['node', 'bin/x'], ['start']]);
  });

  it('refuses what it does not model, by name, instead of guessing', () => {
    expect(() => parseDockerfile('FROM x\nADD https://example.com/a /a\n')).toThrow(/line 2: ADD is not supported/);
    expect(() => parseDockerfile('FROM x\nCOPY --exclude=*.md . .\n')).toThrow(/COPY --exclude is not supported/);
    expect(() => parseDockerfile('FROM x\nRUN --mount=type=secret,id=t cat /run/secrets/t\n')).toThrow(/only RUN --mount=type=cache/);
    expect(() => parseDockerfile('FROM x\nRUN <<EOF\necho\nEOF\n')).toThrow(/heredocs/);
    expect(() => parseDockerfile('# escape=`\nFROM x\n')).toThrow(/escape directive/);
    expect(() => parseDockerfile('FROM x\nENTRYPOINT node bin/x\n')).toThrow(/exec form/);
    expect(() => parseDockerfile('COPY a b\n')).toThrow(/before the first FROM/);
    expect(() => parseDockerfile('# nothing\n')).toThrow(DockerfileError);
  });
});

describe('building without Docker', () => {
  it('copies a directory\'s contents (less .dockerignore), files into a directory, and from an earlier stage; runs RUN with ENV and ARG in WORKDIR', async () => {
    const ctx = context({
      Dockerfile: [
        'FROM base AS build',
        'ARG GREETING=hello',
        'ENV OUT=out.txt',
        'WORKDIR /app',
        'COPY src ./src',
        'COPY one.txt two.txt ./',
        'RUN echo "$GREETING $(cat one.txt)" > "$OUT" && ls src > listing.txt && pwd > where.txt',
        'FROM base',
        'ENV NODE_ENV=production',
        'WORKDIR /srv',
        'COPY --from=build /app/out.txt ./result.txt',
        'COPY --from=build /app/src ./copied',
        'COPY bin/run ./bin/run',
        'USER node',
        'ENTRYPOINT ["/bin/sh", "bin/run"]',
        'CMD ["default"]',
      ].join('\n'),
      '.dockerignore': 'src/secret.key\n**/*.tmp\n',
      'src/a.ts': 'a',
      'src/nested/b.ts': 'b',
      'src/secret.key': 'k',
      'src/scratch.tmp': 't',
      'one.txt': 'world',
      'two.txt': '2',
      'bin/run': 'echo "args: $* env: $NODE_ENV"\n',
    });
    const out = join(ctx, '..', `${ctx.split('/').pop()}-out`);
    dirs.push(out);
    const built = await buildWithoutDocker({ contextDir: ctx, outDir: out });
    const build = built.stages[0]!;
    const app = (p: string) => hostPath(build.root, `/app/${p}`);
    expect(readFileSync(app('out.txt'), 'utf8')).toBe('hello world\n');
    expect(readFileSync(app('listing.txt'), 'utf8')).toBe('a.ts\nnested\n');
    expect(readFileSync(app('where.txt'), 'utf8').trim()).toBe(app('').replace(/\/$/, ''));
    expect(existsSync(app('src/nested/b.ts'))).toBe(true);
    expect(existsSync(app('src/secret.key'))).toBe(false);
    expect(existsSync(app('src/scratch.tmp'))).toBe(false);
    expect(readFileSync(app('two.txt'), 'utf8')).toBe('2');

    const image = built.image;
    expect(readFileSync(hostPath(image.root, '/srv/result.txt'), 'utf8')).toBe('hello world\n');
    expect(existsSync(hostPath(image.root, '/srv/copied/nested/b.ts'))).toBe(true);
    expect(statSync(hostPath(image.root, '/srv/bin/run')).mode & 0o111, 'executable bit kept').not.toBe(0);
    const run = await runProcess({ ...imageCommand(image, ['a', 'b']), timeoutMs: 10_000 });
    expect(run.stdout).toBe('args: a b env: production\n');
    const byDefault = await runProcess({ ...imageCommand(image, undefined), timeoutMs: 10_000 });
    expect(byDefault.stdout).toBe('args: default env: production\n');
    if (process.getuid?.() === 0) expect(imageCommand(image, []).uid, 'runs as the image\'s USER').toBe(1000);
  });

  it('mounts a cache for one RUN only: the host directory given for it, or an empty one, never left in the stage', async () => {
    const ctx = context({
      Dockerfile: ['FROM base', 'RUN --mount=type=cache,target=/root/.cache/tool echo cached > "$HOME/.cache/tool/entry" && cat "$HOME/.cache/tool/seed"'].join('\n'),
    });
    const cache = mkdtempSync(join(tmpdir(), 'sentinel-cache-'));
    dirs.push(cache);
    writeFileSync(join(cache, 'seed'), 'from the host cache');
    const out = `${ctx}-out`;
    dirs.push(out);
    const built = await buildWithoutDocker({ contextDir: ctx, outDir: out, cacheMounts: { '/root/.cache/tool': cache } });
    expect(readFileSync(join(cache, 'entry'), 'utf8')).toBe('cached\n');
    expect(existsSync(hostPath(built.image.root, '/root/.cache/tool'))).toBe(false);
    // Without a host directory for it the cache starts empty, as on a first build.
    await expect(buildWithoutDocker({ contextDir: ctx, outDir: `${out}-cold` })).rejects.toThrow(/seed/);
    dirs.push(`${out}-cold`);
  });

  it('fails like docker build: a failing RUN with its output, a COPY of what the context leaves out', async () => {
    const failing = context({ Dockerfile: 'FROM base\nRUN echo going && echo broken >&2 && exit 3\n' });
    await expect(buildWithoutDocker({ contextDir: failing, outDir: `${failing}-out` })).rejects.toThrow(/line 2: RUN exited 3:[\s\S]*broken/);
    dirs.push(`${failing}-out`);
    const ignored = context({ Dockerfile: 'FROM base\nCOPY .env ./\n', '.dockerignore': '.env\n', '.env': 'DISCORD_TOKEN=x' });
    await expect(buildWithoutDocker({ contextDir: ignored, outDir: `${ignored}-out` })).rejects.toThrow(ImageBuildError);
    await expect(buildWithoutDocker({ contextDir: ignored, outDir: `${ignored}-out2` })).rejects.toThrow(/excluded by \.dockerignore/);
    dirs.push(`${ignored}-out`, `${ignored}-out2`);
    const missing = context({ Dockerfile: 'FROM base\nCOPY commands ./commands\n' });
    await expect(buildWithoutDocker({ contextDir: missing, outDir: `${missing}-out` })).rejects.toThrow(/COPY commands: not found in the build context/);
    dirs.push(`${missing}-out`);
  });
});
