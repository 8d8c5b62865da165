/**
 * Whether JSON text nests objects and arrays deeper than `max` (brackets inside strings do not
 * count). One pass over the text, no recursion: checked before the body is parsed, because the
 * bot's own recursive steps (serializing the event for the incident's record and the playbook's
 * input) overflow the stack on a body a few tens of thousands of levels deep, which fits in
 * SQS's 256 KiB, and the message would then be retried into the dead-letter queue instead of
 * being refused once with a reason.
 */
export function exceedsJsonDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    }
  }
  return false;
}
