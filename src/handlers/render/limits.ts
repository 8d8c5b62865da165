/**
 * Discord's message and embed limits, and `fitEmbed`, which makes any embed respect them.
 * Lengths are UTF-16 code units (never less than Discord's character count; see escapeText.ts).
 */
import type { APIEmbed, APIEmbedField } from 'discord.js';
import { truncateText } from './escapeText.js';

export const LIMITS = {
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** Characters across every embed of one message (title, description, field names and values, footer, author). */
  embedTotal: 6000,
  embedsPerMessage: 10,
  content: 2000,
  customId: 100,
  buttonLabel: 80,
  buttonsPerRow: 5,
  actionRows: 5,
} as const;

/** What an empty field name or value becomes (Discord rejects empty ones). */
export const BLANK = '—';

/** Characters of `embed` counted towards the 6000 limit. */
export function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
  n += (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  for (const f of embed.fields ?? []) n += f.name.length + f.value.length;
  return n;
}

export interface FitOptions {
  /** Total characters allowed for this embed (default 6000; less when a message has several embeds). */
  budget?: number;
  /**
   * Importance of each field, by index (higher is more important). Default: earlier fields are
   * more important. Ties go to the earlier field.
   */
  priority?: readonly number[];
}

/** Floors: how far a part is shrunk in the first passes, before anything is dropped. */
const FIELD_VALUE_FLOOR = 64;
const DESCRIPTION_FLOOR = 256;
const FOOTER_FLOOR = 256;
const SMALL_FLOOR = 64;

interface Slot {
  field: APIEmbedField;
  index: number;
  rank: number;
}

/**
 * Returns a copy of `embed` within Discord's limits. Each part is first cut to its own limit; then,
 * while the total exceeds the budget, in this fixed order: field values are shrunk (least important
 * first, to 64 characters), the description to 256, the footer to 256; then whole fields are
 * dropped (least important first); then the description is removed, the author, footer and title
 * shrunk to 64, the author and footer removed, and the title shrunk further. Fields beyond 25 are
 * dropped least important first. The relative order of the remaining fields never changes.
 */
export function fitEmbed(embed: APIEmbed, options: FitOptions = {}): APIEmbed {
  const budget = Math.max(1, options.budget ?? LIMITS.embedTotal);
  const out: APIEmbed = { ...embed };
  if (out.title !== undefined) out.title = truncateText(out.title, LIMITS.embedTitle);
  if (out.description !== undefined) out.description = truncateText(out.description, LIMITS.embedDescription);
  if (out.footer) out.footer = { ...out.footer, text: truncateText(out.footer.text || BLANK, LIMITS.footerText) };
  if (out.author) out.author = { ...out.author, name: truncateText(out.author.name || BLANK, LIMITS.authorName) };

  let slots: Slot[] = (embed.fields ?? []).map((f, index) => ({
    index,
    rank: options.priority?.[index] ?? -index,
    field: {
      ...f,
      name: truncateText(f.name || BLANK, LIMITS.fieldName),
      value: truncateText(f.value || BLANK, LIMITS.fieldValue),
    },
  }));
  // Least important first: lower rank, then later index.
  const byImportanceAsc = (list: Slot[]) => [...list].sort((a, b) => a.rank - b.rank || b.index - a.index);
  if (slots.length > LIMITS.embedFields) {
    const keep = new Set(byImportanceAsc(slots).slice(slots.length - LIMITS.embedFields));
    slots = slots.filter((s) => keep.has(s));
  }

  const total = () => embedLength({ ...out, fields: slots.map((s) => s.field) });
  const shrink = (current: string, floor: number): string => {
    const excess = total() - budget;
    if (excess <= 0 || current.length <= floor) return current;
    return truncateText(current, Math.max(floor, current.length - excess), { cut: true });
  };

  const steps: Array<() => void> = [
    ...byImportanceAsc(slots).map((s) => () => {
      s.field = { ...s.field, value: shrink(s.field.value, FIELD_VALUE_FLOOR) };
    }),
    () => {
      if (out.description !== undefined) out.description = shrink(out.description, DESCRIPTION_FLOOR);
    },
    () => {
      if (out.footer) out.footer = { ...out.footer, text: shrink(out.footer.text, FOOTER_FLOOR) };
    },
    ...byImportanceAsc(slots).map((s) => () => {
      slots = slots.filter((x) => x !== s);
    }),
    () => {
      delete out.description;
    },
    () => {
      if (out.author) out.author = { ...out.author, name: shrink(out.author.name, SMALL_FLOOR) };
    },
    () => {
      if (out.footer) out.footer = { ...out.footer, text: shrink(out.footer.text, SMALL_FLOOR) };
    },
    () => {
      if (out.title !== undefined) out.title = shrink(out.title, SMALL_FLOOR);
    },
    () => {
      delete out.author;
    },
    () => {
      delete out.footer;
    },
    () => {
      if (out.title !== undefined) out.title = shrink(out.title, 1);
    },
  ];
  for (const step of steps) {
    if (total() <= budget) break;
    step();
  }
  if (embed.fields !== undefined) out.fields = slots.map((s) => s.field);
  return out;
}
