/**
 * Long steps declare HeartbeatSeconds, and the bot heartbeats while their action runs: a step may
 * run longer than its heartbeat interval while the bot is alive, and fails within that interval
 * once the bot is gone (here: a bot process killed with SIGKILL mid-step), instead of at the
 * step's timeout. moto's Step Functions enforces HeartbeatSeconds as AWS does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBotHarness, POD_CONTAINER, POD_FILE, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { createOneStepMachine } from '../helpers/oneStepMachine.js';
import { startBotProcess, type BotProcess } from '../support/botProcess.js';
import { waitFor } from '../support/aws.js';

const HEARTBEAT_SECONDS = 3;
/**
 * The bot in a child process loads @kubernetes/client-node (2.x: about 1 s, and 3 s or more through
 * tsx on a busy machine) at its first pod action, inside the step and blocking its event loop: a
 * 3 s interval would time out while it loads. That test's interval leaves room for it.
 */
const CHILD_HEARTBEAT_SECONDS = 8;
/** AWS names a missed heartbeat States.HeartbeatTimeout; moto names it States.Timeout (test/README.md). */
const HEARTBEAT_TIMEOUT = /^States\.(HeartbeatTimeout|Timeout)$/;

let h: BotHarness;
let child: BotProcess | undefined;

beforeAll(async () => {
  h = await createBotHarness();
}, 120_000);

afterAll(async () => {
  await child?.kill();
  await h?.close();
});

/** extract-file of the harness pod's file, as a step with HeartbeatSeconds (and, when the bot is told, heartbeats). */
function extractStep(incidentId: string, options: { tellHeartbeat: boolean; heartbeatSeconds?: number }) {
  const heartbeatSeconds = options.heartbeatSeconds ?? HEARTBEAT_SECONDS;
  return createOneStepMachine(h, {
    body: {
      kind: 'task',
      action: 'extract-file',
      incidentId,
      input: { namespace: POD_NAMESPACE, pod: POD_NAME, container: POD_CONTAINER, path: POD_FILE },
      timeoutSeconds: 120,
      ...(options.tellHeartbeat ? { heartbeatSeconds } : {}),
    },
    timeoutSeconds: 120,
    heartbeatSeconds,
  });
}

describe('long steps', () => {
  it('a step that runs longer than its heartbeat interval succeeds while the bot heartbeats it', async () => {
    await h.start();
    try {
      // Every command in the pod takes 2.5 s: the extraction runs well past 3 s.
      h.kube.onExec(async () => {
        await sleep(2_500);
        return undefined;
      });
      const machine = await extractStep('inc-heartbeat-alive', { tellHeartbeat: true });
      const run = await machine.start();
      const done = await h.finished(run.executionArn, 120_000);
      expect(done.status).toBe('SUCCEEDED');
      expect(JSON.parse(done.output!)).toMatchObject({ action: 'extract-file', status: 'succeeded' });
    } finally {
      h.kube.onExec(undefined);
      await h.stop();
    }
  });

  it('without heartbeats the same step fails at its heartbeat interval (so the test above can fail)', async () => {
    await h.start();
    try {
      h.kube.onExec(async () => {
        await sleep(2_500);
        return undefined;
      });
      const machine = await extractStep('inc-heartbeat-missing', { tellHeartbeat: false });
      const run = await machine.start();
      const done = await h.finished(run.executionArn, 120_000);
      expect(done.status).toBe('FAILED');
      expect(done.error).toMatch(HEARTBEAT_TIMEOUT);
      // Failed at the heartbeat interval, not at the step's 120 s timeout.
      expect(Date.parse(String(done.stopDate)) - Date.parse(String(done.startDate))).toBeLessThan(60_000);
    } finally {
      h.kube.onExec(undefined);
      await h.stop();
    }
  });

  it('a bot killed mid-step fails the step within its heartbeat interval, not at its timeout', async () => {
    let execStarted = false;
    // The pod's command never answers: the step is mid-way when the bot dies.
    h.kube.onExec(async () => {
      execStarted = true;
      await sleep(120_000);
      return undefined;
    });
    try {
      child = startBotProcess(h.env());
      await child.waitForOutput((l) => l.includes('taking messages'), 90_000);
      const machine = await extractStep('inc-heartbeat-killed', { tellHeartbeat: true, heartbeatSeconds: CHILD_HEARTBEAT_SECONDS });
      const run = await machine.start();
      await waitFor(async () => (execStarted ? true : undefined), { timeoutMs: 60_000, what: 'the step to reach the pod' });
      // Alive and heartbeating: past one heartbeat interval the step still runs.
      await sleep((CHILD_HEARTBEAT_SECONDS + 1) * 1000);
      expect((await h.describeExecution(run.executionArn)).status).toBe('RUNNING');

      await child.kill();
      const killedAt = Date.now();
      const done = await h.finished(run.executionArn, 60_000);
      const after = (Date.now() - killedAt) / 1000;
      expect(done.status).toBe('FAILED');
      expect(done.error).toMatch(HEARTBEAT_TIMEOUT);
      // Within the heartbeat interval (plus moto's polling), far from the step's 120 s timeout.
      expect(after).toBeLessThan(CHILD_HEARTBEAT_SECONDS + 10);
    } finally {
      h.kube.onExec(undefined);
    }
  });
});
