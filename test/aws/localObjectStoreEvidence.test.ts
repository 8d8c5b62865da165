/**
 * Embedded mode's evidence: extract-file (from a pod of the fake Kubernetes API) and
 * record-incident run once against the local object store, with no AWS at all. The evidence
 * object and its record (with the sha256 metadata, as in S3) are files under the data directory,
 * and the incident record is found again by incident id, as /evidence show reads it.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore, localS3Client, type LocalObjectStore } from '../../src/aws/localObjectStore.js';
import { createKubeClients } from '../../src/kube/clients.js';
import { extractFileAction } from '../../src/pipeline/actions/evidence/extractFile.js';
import { recordIncidentAction } from '../../src/pipeline/actions/evidence/recordIncident.js';
import type { ActionDeps } from '../../src/pipeline/actions/types.js';
import { readIncidentRecord } from '../../src/pipeline/incident/readIncidentRecord.js';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { testDeps, testSettings } from '../helpers/deps.js';
import { startFakeKube, type FakeKube } from '../support/fakeKube/index.js';

const BUCKET = 'sentinel-evidence';
let fake: FakeKube;
let dataDir: string;
let store: LocalObjectStore;
let deps: ActionDeps;

beforeAll(async () => {
  fake = await startFakeKube();
  dataDir = await mkdtemp(join(tmpdir(), 'sentinel-embedded-evidence-'));
  store = createLocalObjectStore(dataDir);
  deps = testDeps({ aws: { s3: localS3Client(store) }, kube: createKubeClients(fake.kubeConfig()), settings: testSettings({ evidenceBucket: BUCKET }), now: () => new Date('2026-11-20T03:15:00.000Z') });
});
afterAll(async () => {
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('evidence in embedded mode (the local object store)', () => {
  it('extract-file stores the file and its sha256 under the data directory; record-incident records it; the record is found by incident id', async () => {
    const path = '/var/www/html/uploads/shell.php';
    const content = '<?php system($_GET["c"]); ?>\n';
    const sha256 = createHash('sha256').update(content).digest('hex');
    fake.addPod({ namespace: 'dvwa', name: 'dvwa-1', containers: ['dvwa'], files: { [path]: content } });

    const extracted = await invokeAction(extractFileAction, { namespace: 'dvwa', pod: 'dvwa-1', path }, { actor: 'stepfunctions:falco-1', incidentId: 'inc-local-1' }, deps);
    expect(extracted.status).toBe('succeeded');
    const details = extracted.details as { key: string; location: string; sha256: string; size: number; evidence: unknown };
    expect(details).toMatchObject({ sha256, size: content.length, location: `s3://${BUCKET}/evidence/inc-local-1/${sha256}/shell.php` });

    // The object is a file under <data dir>/objects/<bucket>/<key>, its record beside its bytes.
    const file = join(dataDir, 'objects', BUCKET, 'evidence', 'inc-local-1', sha256, 'shell.php');
    expect(store.pathOfLocation(details.location)).toBe(file);
    expect(await readFile(file, 'utf8')).toBe(content);
    const version = (await readlink(file)).split('/').pop()!;
    const record = JSON.parse(await readFile(store.layout.recordPath(BUCKET, version), 'utf8'));
    expect(record).toMatchObject({ key: details.key, sha256, size: content.length, metadata: { sha256, namespace: 'dvwa', pod: 'dvwa-1', container: 'dvwa', path } });
    expect(record.checksumSha256).toBe(Buffer.from(sha256, 'hex').toString('base64'));

    // A rerun finds it stored (write-once, same content): nothing is written twice.
    const again = await invokeAction(extractFileAction, { namespace: 'dvwa', pod: 'dvwa-1', path }, { actor: 'stepfunctions:falco-1', incidentId: 'inc-local-1' }, deps);
    expect(again.details).toMatchObject({ alreadyStored: true, sha256 });

    const incident = {
      incidentId: 'inc-local-1',
      executionName: 'falco-local-1',
      startTime: '2026-11-20T03:14:07.123Z',
      route: 'file-artifact',
      triage: { rule: 'ARTIFACT_WRITE', route: 'file-artifact' },
      actions: [{ action: 'extract-file', status: extracted.status, summary: extracted.summary, details: extracted.details }],
    };
    const recorded = await invokeAction(recordIncidentAction, incident, { actor: 'stepfunctions:falco-1', incidentId: 'inc-local-1' }, deps);
    expect(recorded.status).toBe('succeeded');
    const incidentFile = store.pathOfLocation((recorded.details as { location: string }).location)!;
    expect(incidentFile).toBe(join(dataDir, 'objects', BUCKET, 'incidents', '2026-11-20T03:14:07.123Z', 'falco-local-1.json'));
    const doc = JSON.parse(await readFile(incidentFile, 'utf8'));
    expect(doc.manifest).toEqual([expect.objectContaining({ kind: 'file', location: details.location, sha256, size: content.length })]);

    const found = await readIncidentRecord(localS3Client(store), BUCKET, 'inc-local-1');
    expect(found?.location).toBe(`s3://${BUCKET}/incidents/2026-11-20T03:14:07.123Z/falco-local-1.json`);
    expect(found?.record.manifest).toEqual(doc.manifest);
  });
});
