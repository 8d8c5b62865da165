import { describe, expect, it } from 'vitest';
import { checkVote, sameActor, voteRefusalText } from '../../src/policy/checkVote.js';

describe('checkVote', () => {
  it('counts a first vote by someone who did not start the action', () => {
    expect(checkVote({ by: 'discord:2', voters: [], initiatedBy: 'discord:1' })).toEqual({ ok: true });
    expect(checkVote({ by: 'discord:2', voters: [] })).toEqual({ ok: true });
  });

  it('refuses whoever started the action, before and after others voted, in either form of their id', () => {
    expect(checkVote({ by: 'discord:1', voters: [], initiatedBy: 'discord:1' })).toEqual({ ok: false, reason: 'initiator' });
    expect(checkVote({ by: '1', voters: ['discord:2'], initiatedBy: 'discord:1' })).toEqual({ ok: false, reason: 'initiator' });
  });

  it('refuses a second vote by the same person', () => {
    expect(checkVote({ by: 'discord:2', voters: ['discord:2'] })).toEqual({ ok: false, reason: 'already-voted' });
    expect(checkVote({ by: 'discord:2', voters: ['2'], initiatedBy: 'discord:1' })).toEqual({ ok: false, reason: 'already-voted' });
  });

  it('sameActor compares people, not spellings', () => {
    expect(sameActor('discord:42', '42')).toBe(true);
    expect(sameActor('discord:42', 'discord:43')).toBe(false);
  });

  it('tells the refused voter why', () => {
    expect(voteRefusalText('initiator')).toMatch(/You started this action/);
    expect(voteRefusalText('already-voted')).toMatch(/already voted/);
  });
});
