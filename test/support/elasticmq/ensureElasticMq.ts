/**
 * ElasticMQ (an SQS-compatible server, https://github.com/softwaremill/elasticmq) for the storm
 * benchmark: moto's SQS is far too slow to measure a storm with (about 17 receive+delete a second).
 *
 * Fetched once from Maven Central with Maven, into `.cache/elasticmq-<version>/` (git-ignored):
 * a small generated pom depends on `org.elasticmq:elasticmq-server_2.13` (excluding
 * `elasticmq-common-test_2.13`, a test helper the server does not need) and
 * `mvn dependency:copy-dependencies` copies the server and its runtime dependencies into `deps/`.
 * Maven's own repository for it is `.cache/elasticmq-<version>/m2`, not ~/.m2. A `deps/.complete`
 * file written last marks a finished fetch; later runs reuse it. Concurrent callers wait for one
 * fetch under a lock directory.
 *
 * Needs `mvn` (Apache Maven 3) and Java 17 or later on the PATH.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, run, tail } from '../python/ensureVenv.js';

export const ELASTICMQ_VERSION = '1.7.1';
export const elasticMqDir = path.join(repoRoot, '.cache', `elasticmq-${ELASTICMQ_VERSION}`);

const FETCH_TIMEOUT_MS = 15 * 60_000;
const LOCK_WAIT_MS = 20 * 60_000;
const MARKER = '.complete';

export class ElasticMqSetupError extends Error {
  override name = 'ElasticMqSetupError';
}

export interface ElasticMq {
  /** The directory of jars: run `java -cp '<deps>/*' org.elasticmq.server.Main`. */
  deps: string;
  version: string;
}

/** The pom whose runtime dependencies are the server (its test helper excluded). */
export function elasticMqPom(version = ELASTICMQ_VERSION): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sentinel.bench</groupId>
  <artifactId>elasticmq-server-deps</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.elasticmq</groupId>
      <artifactId>elasticmq-server_2.13</artifactId>
      <version>${version}</version>
      <exclusions>
        <exclusion>
          <groupId>org.elasticmq</groupId>
          <artifactId>elasticmq-common-test_2.13</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function withLock<T>(lockDir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ElasticMqSetupError(`Timed out waiting for ${lockDir} (held by pid ${owner || 'unknown'}); remove it if stale.`);
      if (!announced) {
        log(`waiting for another process (pid ${owner || '?'}) that is fetching ElasticMQ…`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function complete(deps: string): Promise<boolean> {
  if (!existsSync(path.join(deps, MARKER))) return false;
  const jars = await readdir(deps);
  return jars.includes(`elasticmq-server_2.13-${ELASTICMQ_VERSION}.jar`);
}

/** The ElasticMQ jars, fetched with Maven on first use. */
export async function ensureElasticMq(options: { log?: (line: string) => void } = {}): Promise<ElasticMq> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const deps = path.join(elasticMqDir, 'deps');
  if (await complete(deps)) return { deps, version: ELASTICMQ_VERSION };
  await mkdir(elasticMqDir, { recursive: true });
  return withLock(path.join(elasticMqDir, '.lock'), log, async () => {
    if (await complete(deps)) return { deps, version: ELASTICMQ_VERSION };
    const mvn = await run('mvn', ['-v']);
    if (mvn.spawnError || mvn.code !== 0) {
      throw new ElasticMqSetupError('The storm benchmark fetches ElasticMQ with Maven: install Apache Maven 3 (`apt-get install maven`) and Java 17 or later.');
    }
    log(`fetching ElasticMQ ${ELASTICMQ_VERSION} from Maven Central into ${path.relative(repoRoot, elasticMqDir)} (once)…`);
    const work = path.join(elasticMqDir, 'work');
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await writeFile(path.join(work, 'pom.xml'), elasticMqPom());
    const staging = path.join(work, 'deps');
    const out = await run(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        path.join(work, 'pom.xml'),
        `-Dmaven.repo.local=${path.join(elasticMqDir, 'm2')}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${staging}`,
        '-DincludeScope=runtime',
      ],
      FETCH_TIMEOUT_MS,
    );
    if (out.code !== 0) {
      throw new ElasticMqSetupError(`mvn dependency:copy-dependencies failed (exit ${out.code ?? out.signal}):\n${tail(`${out.stdout}\n${out.stderr}`, 40)}`);
    }
    const jars = await readdir(staging);
    if (!jars.includes(`elasticmq-server_2.13-${ELASTICMQ_VERSION}.jar`)) throw new ElasticMqSetupError(`Maven copied no elasticmq-server jar into ${staging}`);
    if (jars.some((j) => j.startsWith('elasticmq-common-test'))) throw new ElasticMqSetupError('elasticmq-common-test was not excluded');
    await writeFile(path.join(staging, MARKER), `${jars.sort().join('\n')}\n`);
    await rm(deps, { recursive: true, force: true });
    await rename(staging, deps);
    await rm(work, { recursive: true, force: true });
    log(`ElasticMQ ${ELASTICMQ_VERSION}: ${jars.length} jars in ${path.relative(repoRoot, deps)}`);
    return { deps, version: ELASTICMQ_VERSION };
  });
}
