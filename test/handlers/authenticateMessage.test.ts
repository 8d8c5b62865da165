import { describe, expect, it } from 'vitest';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import { refuseKind, refuseSender, senderIsRole } from '../../src/handlers/authenticateMessage.js';
import { MESSAGE_KINDS } from '../../src/handlers/messages.js';

const ROLE = 'AROAEXAMPLEROLEID0001';
const message = (source: IntakeMessage['source'], senderId?: string): IntakeMessage => ({ id: 'm-1', body: '{}', receiveCount: 1, source, ...(senderId ? { senderId } : {}) });

describe('senderIsRole', () => {
  it('accepts the role itself and any of its sessions, nothing that merely starts the same', () => {
    expect(senderIsRole(ROLE, ROLE)).toBe(true);
    expect(senderIsRole(`${ROLE}:states-execution-1`, ROLE)).toBe(true);
    expect(senderIsRole(`${ROLE}X:session`, ROLE)).toBe(false);
    expect(senderIsRole('AIDAIT2UOQQY3AUEKVGXU', ROLE)).toBe(false);
    expect(senderIsRole(undefined, ROLE)).toBe(false);
    expect(senderIsRole(ROLE, undefined)).toBe(false);
  });
});

describe('refuseSender', () => {
  it('lets anyone write events to the intake queue, only the role to the control queue', () => {
    expect(refuseSender(message('intake', 'AIDAANYONE'), ROLE)).toBeUndefined();
    expect(refuseSender(message('control', `${ROLE}:s`), ROLE)).toBeUndefined();
    expect(refuseSender(message('control', 'AIDAANYONE'), ROLE)).toMatch(/not the state machines' role/);
    expect(refuseSender(message('control'), ROLE)).toMatch(/no SenderId/);
    expect(refuseSender(message('control', `${ROLE}:s`), undefined)).toMatch(/SENTINEL_SFN_ROLE_ID/);
  });
});

describe('refuseKind', () => {
  it('keeps events on the intake queue and every other kind on the control queue', () => {
    for (const kind of MESSAGE_KINDS) {
      expect(refuseKind(kind, message('intake')) === undefined).toBe(kind === 'event');
      expect(refuseKind(kind, message('control')) === undefined).toBe(kind !== 'event');
    }
  });
});
