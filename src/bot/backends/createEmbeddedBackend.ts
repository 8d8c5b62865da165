import { join } from 'node:path';
import { createLocalObjectStore, localS3Client } from '../../aws/localObjectStore.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createEmbeddedEngine, EMBEDDED_ENGINE_SENDER_ID } from '../engine/embeddedEngine.js';
import { createWebhookIntake, webhookIntakeOptions } from '../intake/webhookIntake.js';
import type { Backend } from './backend.js';

/**
 * Embedded mode: the same playbook files run in-process (journalled, restart-safe), events come
 * through the webhook with its durable backlog, and approvals, incidents and the audit log stay in
 * SENTINEL_DATA_DIR. The engine's control messages are trusted by construction: only this process
 * can put one on its queue, under EMBEDDED_ENGINE_SENDER_ID.
 */
/** The bucket name evidence and records carry in embedded mode (kept under `<data dir>/objects/`). */
export const LOCAL_EVIDENCE_BUCKET = 'sentinel-evidence';

export async function createEmbeddedBackend(config: Config, logger: Logger): Promise<Backend> {
  const engine = await createEmbeddedEngine({ dir: join(config.dataDir, 'engine'), logger });
  let webhook;
  try {
    webhook = await createWebhookIntake(webhookIntakeOptions(config, logger));
  } catch (err) {
    await engine.close();
    throw err;
  }
  const playbooks = new Set(engine.playbooks());
  const marker = (name: string) => (playbooks.has(name) ? `embedded:${name}` : undefined);
  return {
    mode: 'embedded',
    // Evidence, incident records, block records and the cap's window: S3's semantics on local disk.
    aws: { s3: localS3Client(createLocalObjectStore(config.dataDir)) },
    evidenceBucket: LOCAL_EVIDENCE_BUCKET,
    engine,
    intakes: [
      { name: 'webhook', intake: webhook },
      { name: 'embedded-control', intake: engine.controlIntake },
    ],
    bot: {
      ...config.bot,
      stateMachineRoleId: EMBEDDED_ENGINE_SENDER_ID,
      stateMachines: { falco: marker('falco-incident'), forensics: marker('ec2-forensics'), notify: marker('notify'), pod: marker('pod-containment') },
    },
    describe: { webhookUrl: webhook.url, dataDir: config.dataDir, evidence: `${config.dataDir}/objects/${LOCAL_EVIDENCE_BUCKET}`, playbooks: [...playbooks].join(', ') },
    async close() {
      await engine.close();
    },
  };
}
