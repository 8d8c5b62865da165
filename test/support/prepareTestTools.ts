/**
 * `npm test` runs this before vitest: it builds, once per clean clone, the tools the deploy tests
 * use that take minutes to make (helm from the Go module proxy, kubernetes-validate's virtualenv
 * from PyPI), so that the build does not compete with the test files for the CPU. A later run
 * finds both in .cache/ and returns at once. Each test file still calls the same functions, so a
 * file run alone (`npx vitest run test/deploy/helmChart.test.ts`) prepares what it needs.
 */
import { ensureHelm } from './helm/ensureHelm.js';
import { ensureKubernetesValidateVenv } from './kubernetesValidate/runKubernetesValidate.js';

const started = Date.now();
try {
  const [helm, venv] = await Promise.all([ensureHelm(), ensureKubernetesValidateVenv()]);
  const seconds = (Date.now() - started) / 1000;
  if (seconds > 2) process.stderr.write(`[test tools] helm ${helm.version}, kubernetes-validate ${venv.version} ready in ${seconds.toFixed(0)} s\n`);
} catch (err) {
  process.stderr.write(`[test tools] ${(err as Error).message}\n`);
  process.exitCode = 1;
}
