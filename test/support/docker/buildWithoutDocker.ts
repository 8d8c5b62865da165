/**
 * Builds the stages of a Dockerfile without a container engine, from exactly what they copy: each
 * stage gets a directory standing for its root file system; COPY takes files from the build
 * context (after .dockerignore) or from an earlier stage's directory, with Docker's rules for
 * directories (their contents are copied) and destinations (relative to WORKDIR; a trailing `/` or
 * several sources make it a directory); RUN runs the instruction's own text the way Docker does
 * (shell form through `/bin/sh -c`, exec form as argv) in the stage's WORKDIR, with the stage's ENV
 * and ARGs and nothing of the calling process's environment but PATH (less any node_modules/.bin).
 *
 * What stands in for the base image is this machine: its `node` (first on PATH) and `npm`. HOME is
 * the stage's own `/root`, so npm's cache is the stage's `/root/.npm`, empty as in a fresh image,
 * unless a `RUN --mount=type=cache,target=…` mounts a cache there: such a target is linked, for
 * that RUN only, to the host directory `cacheMounts` names for it (npm's own cache, say), exactly
 * what a build cache is; and nothing written there stays in the stage.
 *
 * The text of RUN comes from the repository's Dockerfile, never from input: running it through a
 * shell is what `docker build` does with it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, delimiter, dirname, join, posix } from 'node:path';
import { contextFiles, parseDockerignore, type Dockerignore } from './dockerignore.js';
import { DockerfileError, parseDockerfile, type Command, type CopyInstruction, type Dockerfile, type Stage } from './parseDockerfile.js';

export interface BuildOptions {
  /** The build context (the repository root). */
  contextDir: string;
  /** Default `<contextDir>/Dockerfile`. */
  dockerfilePath?: string;
  /** Where the stages' root directories are made. */
  outDir: string;
  /** Image path of a cache mount → the host directory that serves as that cache. */
  cacheMounts?: Record<string, string>;
  /** Added to every RUN's environment (npm settings that change no result, e.g. prefer-offline). */
  runEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export interface BuiltStage {
  stage: Stage;
  /** The directory standing for the stage's `/`. */
  root: string;
  /** WORKDIR at the end of the stage (an image path). */
  workdir: string;
  /** ENV at the end of the stage. */
  env: Record<string, string>;
  /** Milliseconds per RUN, by line. */
  runMs: Record<number, number>;
}

export interface BuildResult {
  dockerfile: Dockerfile;
  ignore: Dockerignore;
  stages: BuiltStage[];
  /** The last stage: the image. */
  image: BuiltStage;
}

export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

/** `/app/dist` in a stage → its directory on this machine. */
export function hostPath(root: string, imagePath: string): string {
  return join(root, posix.normalize(imagePath).replace(/^\/+/, ''));
}

/** The calling process's PATH without node_modules/.bin entries, this node's directory first. */
export function basePath(): string {
  const entries = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter((p) => p && !/node_modules[\\/]\.bin/.test(p));
  return [dirname(process.execPath), ...entries.filter((p) => p !== dirname(process.execPath))].join(delimiter);
}

const OUTPUT_CAP = 64 * 1024;

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface SpawnSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  stdin?: string;
  timeoutMs?: number;
}

/** Runs one program (argv, no shell of ours) and collects its output. */
export function runProcess(spec: SpawnSpec): Promise<ProcessResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
      ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout = (stdout + c.toString('utf8')).slice(-OUTPUT_CAP)));
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-OUTPUT_CAP)));
    if (spec.stdin !== undefined) child.stdin!.end(spec.stdin);
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${spec.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, spec.timeoutMs ?? 10 * 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A Command as argv: exec form as written, shell form through `/bin/sh -c` (Docker's default SHELL). */
export function commandArgv(command: Command): string[] {
  return command.form === 'exec' ? command.argv : ['/bin/sh', '-c', command.script];
}

function copyFromContext(opts: BuildOptions, ignore: Dockerignore, copy: CopyInstruction, destDir: string, destIsDir: boolean): void {
  for (const source of copy.sources) {
    if (/[*?[]/.test(source)) throw new DockerfileError(`line ${copy.line}: wildcards in COPY sources are not supported (${source})`);
    const rel = posix.normalize(source.replace(/^\/+/, '')).replace(/\/+$/, '');
    if (rel === '..' || rel.startsWith('../')) throw new DockerfileError(`line ${copy.line}: ${source} is outside the build context`);
    const abs = rel === '.' ? opts.contextDir : join(opts.contextDir, rel);
    if (!existsSync(abs)) throw new ImageBuildError(`line ${copy.line}: COPY ${source}: not found in the build context`);
    if (statSync(abs).isDirectory()) {
      const files = contextFiles(opts.contextDir, rel === '.' ? '' : rel, ignore);
      const prefix = rel === '.' ? '' : `${rel}/`;
      mkdirSync(destDir, { recursive: true });
      for (const f of files) {
        const target = join(destDir, f.slice(prefix.length));
        mkdirSync(dirname(target), { recursive: true });
        cpSync(join(opts.contextDir, f), target, { preserveTimestamps: true });
      }
    } else {
      if (ignore.excludes(rel)) throw new ImageBuildError(`line ${copy.line}: COPY ${source}: excluded by .dockerignore (not in the build context)`);
      const target = destIsDir ? join(destDir, basename(rel)) : destDir;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(abs, target, { preserveTimestamps: true });
    }
  }
}

function copyFromStage(from: BuiltStage, copy: CopyInstruction, destDir: string, destIsDir: boolean): void {
  for (const source of copy.sources) {
    const abs = hostPath(from.root, source.startsWith('/') ? source : posix.join(from.workdir, source));
    if (!existsSync(abs)) throw new ImageBuildError(`line ${copy.line}: COPY --from=${copy.from} ${source}: not found in that stage`);
    if (statSync(abs).isDirectory()) {
      mkdirSync(destDir, { recursive: true });
      cpSync(abs, destDir, { recursive: true, preserveTimestamps: true });
    } else {
      const target = destIsDir ? join(destDir, basename(abs)) : destDir;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(abs, target, { preserveTimestamps: true });
    }
  }
}

/** Builds every stage in order; throws with the command's output when a RUN fails. */
export async function buildWithoutDocker(opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? (() => undefined);
  const dockerfile = parseDockerfile(readFileSync(opts.dockerfilePath ?? join(opts.contextDir, 'Dockerfile'), 'utf8'));
  const ignorePath = join(opts.contextDir, '.dockerignore');
  const ignore = parseDockerignore(existsSync(ignorePath) ? readFileSync(ignorePath, 'utf8') : '');
  mkdirSync(opts.outDir, { recursive: true });
  chmodSync(opts.outDir, 0o755);
  const built: BuiltStage[] = [];

  for (const stage of dockerfile.stages) {
    const root = join(opts.outDir, `stage-${stage.index}${stage.name ? `-${stage.name}` : ''}`);
    mkdirSync(join(root, 'root'), { recursive: true });
    mkdirSync(join(root, 'tmp'), { recursive: true });
    chmodSync(root, 0o755);
    const current: BuiltStage = { stage, root, workdir: '/', env: {}, runMs: {} };
    const args: Record<string, string> = {};
    for (const ins of stage.instructions) {
      switch (ins.kind) {
        case 'WORKDIR':
          current.workdir = ins.path;
          mkdirSync(hostPath(root, ins.path), { recursive: true });
          break;
        case 'ENV':
          Object.assign(current.env, ins.values);
          break;
        case 'ARG':
          if (ins.default !== undefined) args[ins.name] = ins.default;
          break;
        case 'USER':
          break;
        case 'COPY': {
          const destImagePath = ins.dest.startsWith('/') ? ins.dest : posix.join(current.workdir, ins.dest);
          const destIsDir = ins.dest.endsWith('/') || ins.dest === '.' || ins.sources.length > 1;
          const destDir = hostPath(root, destImagePath);
          if (ins.from !== undefined) {
            const from = built.find((b) => b.stage.name === ins.from || String(b.stage.index) === ins.from);
            if (!from) throw new DockerfileError(`line ${ins.line}: COPY --from=${ins.from}: no earlier stage of that name (images are not supported)`);
            copyFromStage(from, ins, destDir, destIsDir);
          } else {
            copyFromContext(opts, ignore, ins, destDir, destIsDir);
          }
          break;
        }
        case 'RUN': {
          const linked: string[] = [];
          for (const mount of ins.cacheMounts) {
            const at = hostPath(root, mount.target);
            if (existsSync(at) || isLink(at)) throw new ImageBuildError(`line ${ins.line}: cache mount target ${mount.target} already exists in the stage`);
            mkdirSync(dirname(at), { recursive: true });
            const cache = opts.cacheMounts?.[mount.target] ?? mkdtempSync(join(opts.outDir, 'cache-'));
            mkdirSync(cache, { recursive: true });
            symlinkSync(cache, at, 'dir');
            linked.push(at);
          }
          const [command, ...rest] = commandArgv(ins.command);
          const env: Record<string, string> = { PATH: basePath(), HOME: hostPath(root, '/root'), ...args, ...current.env, ...(opts.runEnv ?? {}) };
          log(`stage ${stage.name ?? stage.index}: RUN (line ${ins.line}) ${ins.command.form === 'shell' ? ins.command.script : ins.command.argv.join(' ')}`);
          try {
            const out = await runProcess({ command: command!, args: rest, cwd: hostPath(root, current.workdir), env, timeoutMs: 15 * 60_000 });
            current.runMs[ins.line] = out.ms;
            if (out.code !== 0) {
              throw new ImageBuildError(
                `stage ${stage.name ?? stage.index}, line ${ins.line}: RUN exited ${out.code ?? out.signal}:\n${(out.stdout + '\n' + out.stderr).trim().split('\n').slice(-40).join('\n')}`,
              );
            }
            log(`  done in ${(out.ms / 1000).toFixed(1)} s`);
          } finally {
            // A cache mount is not part of the layer.
            for (const at of linked) rmSync(at, { force: true });
          }
          break;
        }
      }
    }
    built.push(current);
  }
  return { dockerfile, ignore, stages: built, image: built.at(-1)! };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** uid and gid of the image's USER, for the users sentinel's base image has. */
export function imageUser(user: string | undefined): { uid: number; gid: number; home: string } {
  if (user === undefined || user === 'root') return { uid: 0, gid: 0, home: '/root' };
  // The node images create `node` with uid and gid 1000 (groupadd --gid 1000 node && useradd --uid 1000 --gid node).
  if (user === 'node') return { uid: 1000, gid: 1000, home: '/home/node' };
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2] ?? numeric[1]), home: '/' };
  throw new DockerfileError(`USER ${user}: unknown to the image build check (node, root or a numeric uid)`);
}

/**
 * How the image runs `args` (docker run IMAGE args…): ENTRYPOINT plus the args (CMD when none),
 * in WORKDIR, with the image's ENV, as its USER when this process may switch to it.
 */
export function imageCommand(image: BuiltStage, args: string[] | undefined, extraEnv: Record<string, string> = {}): SpawnSpec {
  const entrypoint = image.stage.entrypoint ?? [];
  const argv = [...entrypoint, ...(args ?? image.stage.cmd ?? [])];
  if (!argv.length) throw new DockerfileError('the image has neither ENTRYPOINT nor CMD');
  return withUser(image, { command: argv[0]!, args: argv.slice(1), cwd: hostPath(image.root, image.workdir), env: imageEnv(image, extraEnv) });
}

/** The image's HEALTHCHECK command, run as Docker runs it inside the container. */
export function healthcheckCommand(image: BuiltStage, extraEnv: Record<string, string> = {}): SpawnSpec {
  const hc = image.stage.healthcheck;
  if (!hc) throw new DockerfileError('the image has no HEALTHCHECK');
  const [command, ...args] = commandArgv(hc.command);
  return withUser(image, { command: command!, args, cwd: hostPath(image.root, image.workdir), env: imageEnv(image, extraEnv), timeoutMs: 30_000 });
}

function runsAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function imageEnv(image: BuiltStage, extraEnv: Record<string, string>): Record<string, string> {
  const user = imageUser(image.stage.user);
  const home = hostPath(image.root, user.home);
  mkdirSync(home, { recursive: true });
  if (runsAsRoot()) chownSync(home, user.uid, user.gid);
  return { PATH: basePath(), HOME: home, ...image.env, ...extraEnv };
}

/** Runs as the image's user when this process is root (as on CI); otherwise as the current user. */
function withUser(image: BuiltStage, spec: SpawnSpec): SpawnSpec {
  const user = imageUser(image.stage.user);
  return runsAsRoot() && user.uid !== 0 ? { ...spec, uid: user.uid, gid: user.gid } : spec;
}
