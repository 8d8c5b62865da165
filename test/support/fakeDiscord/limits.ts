/**
 * Discord's documented payload limits, answered the way Discord answers them:
 * 400 `{"code":50035,"message":"Invalid Form Body","errors":{...}}` with a nested error tree, or
 * 400 `{"code":50006,"message":"Cannot send an empty message"}`.
 */
import { ErrorCollector, errors } from './errors.js';

export const LIMITS = {
  content: 2000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  embedTotal: 6000,
  actionRows: 5,
  rowButtons: 5,
  customId: 100,
  buttonLabel: 80,
  selectOptions: 25,
  selectPlaceholder: 150,
  componentsV2Total: 40,
  textDisplayTotal: 4000,
  modalTitle: 45,
  autocompleteChoices: 25,
  threadName: 100,
  commandName: 32,
  commandDescription: 100,
  commandOptions: 25,
  optionChoices: 25,
  commandsPerScope: 100,
} as const;

export const MessageFlag = {
  SuppressEmbeds: 1 << 2,
  HasThread: 1 << 5,
  Ephemeral: 1 << 6,
  Loading: 1 << 7,
  SuppressNotifications: 1 << 12,
  IsComponentsV2: 1 << 15,
} as const;

type Path = ReadonlyArray<string | number>;
type Json = Record<string, unknown>;

/** Discord counts characters (code points), not UTF-16 units. */
export function charLength(value: string): number {
  let n = 0;
  for (const _ of value) n += 1;
  return n;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function checkMax(c: ErrorCollector, path: Path, value: unknown, max: number): void {
  const s = str(value);
  if (s !== undefined && charLength(s) > max) c.maxLength(path, max);
}

/** Characters counted towards the 6000 limit of one embed. */
export function embedSize(embed: Json): number {
  let n = 0;
  const add = (v: unknown): void => {
    if (typeof v === 'string') n += charLength(v);
  };
  add(embed.title);
  add(embed.description);
  if (isObject(embed.footer)) add(embed.footer.text);
  if (isObject(embed.author)) add(embed.author.name);
  if (Array.isArray(embed.fields)) {
    for (const field of embed.fields) {
      if (isObject(field)) {
        add(field.name);
        add(field.value);
      }
    }
  }
  return n;
}

function validateEmbeds(c: ErrorCollector, base: Path, embeds: unknown): void {
  if (embeds === undefined || embeds === null) return;
  const path = [...base, 'embeds'];
  if (!Array.isArray(embeds)) {
    c.add(path, 'BASE_TYPE_LIST', 'Must be a list.');
    return;
  }
  if (embeds.length > LIMITS.embeds) c.maxLength(path, LIMITS.embeds);
  const before = c.size;
  embeds.forEach((embed, i) => {
    const p = [...path, i];
    if (!isObject(embed)) {
      c.add(p, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
      return;
    }
    checkMax(c, [...p, 'title'], embed.title, LIMITS.embedTitle);
    checkMax(c, [...p, 'description'], embed.description, LIMITS.embedDescription);
    if (isObject(embed.footer)) {
      if (typeof embed.footer.text !== 'string' || embed.footer.text.length === 0) c.required([...p, 'footer', 'text']);
      else checkMax(c, [...p, 'footer', 'text'], embed.footer.text, LIMITS.footerText);
    }
    if (isObject(embed.author)) {
      if (typeof embed.author.name !== 'string' || embed.author.name.length === 0) c.required([...p, 'author', 'name']);
      else checkMax(c, [...p, 'author', 'name'], embed.author.name, LIMITS.authorName);
    }
    if (embed.fields !== undefined && embed.fields !== null) {
      if (!Array.isArray(embed.fields)) {
        c.add([...p, 'fields'], 'BASE_TYPE_LIST', 'Must be a list.');
      } else {
        if (embed.fields.length > LIMITS.embedFields) c.maxLength([...p, 'fields'], LIMITS.embedFields);
        embed.fields.forEach((field, j) => {
          const fp = [...p, 'fields', j];
          if (!isObject(field)) {
            c.add(fp, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
            return;
          }
          if (typeof field.name !== 'string' || field.name.length === 0) c.required([...fp, 'name']);
          else checkMax(c, [...fp, 'name'], field.name, LIMITS.fieldName);
          if (typeof field.value !== 'string' || field.value.length === 0) c.required([...fp, 'value']);
          else checkMax(c, [...fp, 'value'], field.value, LIMITS.fieldValue);
        });
      }
    }
  });
  // The 6000-character budget spans every embed of the message; Discord reports it on `embeds`.
  if (c.size === before) {
    const total = embeds.reduce<number>((sum, e) => sum + (isObject(e) ? embedSize(e) : 0), 0);
    if (total > LIMITS.embedTotal) {
      c.add(path, 'MAX_EMBED_SIZE_EXCEEDED', `Embed size exceeds maximum size of ${LIMITS.embedTotal}`);
    }
  }
}

const LINK_STYLE = 5;
const PREMIUM_STYLE = 6;
const SELECT_TYPES: ReadonlySet<number> = new Set([3, 5, 6, 7, 8]);

function validateInteractive(c: ErrorCollector, path: Path, component: Json, seen: Map<string, Path>): void {
  const type = component.type;
  if (type === 2) {
    const style = component.style;
    if (style === LINK_STYLE) {
      if (typeof component.url !== 'string') c.required([...path, 'url']);
    } else if (style !== PREMIUM_STYLE && typeof component.custom_id !== 'string') {
      c.required([...path, 'custom_id']);
    }
    checkMax(c, [...path, 'label'], component.label, LIMITS.buttonLabel);
  }
  if (typeof type === 'number' && SELECT_TYPES.has(type)) {
    if (typeof component.custom_id !== 'string') c.required([...path, 'custom_id']);
    checkMax(c, [...path, 'placeholder'], component.placeholder, LIMITS.selectPlaceholder);
    if (type === 3) {
      const options = component.options;
      if (!Array.isArray(options) || options.length < 1 || options.length > LIMITS.selectOptions) {
        c.badLength([...path, 'options'], 1, LIMITS.selectOptions);
      }
    }
  }
  const customId = component.custom_id;
  if (typeof customId === 'string') {
    if (charLength(customId) > LIMITS.customId) {
      c.maxLength([...path, 'custom_id'], LIMITS.customId);
    } else if (customId.length === 0) {
      c.badLength([...path, 'custom_id'], 1, LIMITS.customId);
    } else if (seen.has(customId)) {
      c.add([...path, 'custom_id'], 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
    } else {
      seen.set(customId, path);
    }
  }
}

function validateLegacyComponents(c: ErrorCollector, path: Path, components: unknown[]): void {
  if (components.length > LIMITS.actionRows) c.maxLength(path, LIMITS.actionRows);
  const seen = new Map<string, Path>();
  components.forEach((row, i) => {
    const rp = [...path, i];
    if (!isObject(row)) {
      c.add(rp, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
      return;
    }
    if (row.type !== 1) {
      c.add([...rp, 'type'], 'BASE_TYPE_CHOICES', 'Value must be one of {1}.');
      return;
    }
    const children = row.components;
    if (!Array.isArray(children) || children.length < 1 || children.length > LIMITS.rowButtons) {
      c.badLength([...rp, 'components'], 1, LIMITS.rowButtons);
    }
    if (!Array.isArray(children)) return;
    const hasSelect = children.some((child) => isObject(child) && typeof child.type === 'number' && SELECT_TYPES.has(child.type));
    if (hasSelect && children.length > 1) c.badLength([...rp, 'components'], 1, 1);
    children.forEach((child, j) => {
      if (!isObject(child)) {
        c.add([...rp, 'components', j], 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
        return;
      }
      validateInteractive(c, [...rp, 'components', j], child, seen);
    });
  });
}

/** Components V2 (flag 1<<15): nested layout, 40 components in total, 4000 characters of text. */
function validateComponentsV2(c: ErrorCollector, path: Path, components: unknown[]): void {
  let total = 0;
  let text = 0;
  const seen = new Map<string, Path>();
  const walk = (list: unknown[], p: Path): void => {
    list.forEach((component, i) => {
      if (!isObject(component)) return;
      total += 1;
      const cp = [...p, i];
      if (component.type === 10 && typeof component.content === 'string') text += charLength(component.content);
      validateInteractive(c, cp, component, seen);
      if (Array.isArray(component.components)) walk(component.components, [...cp, 'components']);
      if (isObject(component.accessory)) {
        total += 1;
        validateInteractive(c, [...cp, 'accessory'], component.accessory, seen);
      }
    });
  };
  walk(components, path);
  if (total > LIMITS.componentsV2Total) c.maxLength(path, LIMITS.componentsV2Total);
  if (text > LIMITS.textDisplayTotal) {
    c.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${LIMITS.textDisplayTotal} or fewer in length.`);
  }
}

export interface MessageValidationOptions {
  /** Prefix for error paths (interaction callbacks nest under `data`). */
  base?: Path;
  /** Flags the resulting message will have (to know whether Components V2 rules apply). */
  flags?: number;
}

/** Field-level validation of a message create/edit body; throws 50035. */
export function validateMessageBody(body: Json, options: MessageValidationOptions = {}): void {
  const c = new ErrorCollector();
  const base = options.base ?? [];
  const flags = typeof body.flags === 'number' ? body.flags : (options.flags ?? 0);
  if (body.content !== undefined && body.content !== null) {
    if (typeof body.content !== 'string') c.add([...base, 'content'], 'BASE_TYPE_STRING', 'Must be a string.');
    else checkMax(c, [...base, 'content'], body.content, LIMITS.content);
  }
  validateEmbeds(c, base, body.embeds);
  if (body.components !== undefined && body.components !== null) {
    const path = [...base, 'components'];
    if (!Array.isArray(body.components)) c.add(path, 'BASE_TYPE_LIST', 'Must be a list.');
    else if (flags & MessageFlag.IsComponentsV2) validateComponentsV2(c, path, body.components);
    else validateLegacyComponents(c, path, body.components);
  }
  c.throwIfAny();
}

/** True if a message (as it would be stored) has nothing to show: Discord's 50006. */
export function isEmptyMessage(message: {
  content?: unknown;
  embeds?: unknown;
  components?: unknown;
  attachments?: unknown;
  sticker_ids?: unknown;
  poll?: unknown;
}): boolean {
  const hasContent = typeof message.content === 'string' && message.content.trim().length > 0;
  const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  return !(
    hasContent ||
    nonEmpty(message.embeds) ||
    nonEmpty(message.components) ||
    nonEmpty(message.attachments) ||
    nonEmpty(message.sticker_ids) ||
    isObject(message.poll)
  );
}

export function assertNotEmpty(message: Parameters<typeof isEmptyMessage>[0]): void {
  if (isEmptyMessage(message)) throw errors.emptyMessage();
}

// ---- application commands -----------------------------------------------------------------

const COMMAND_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

function validateOptionList(c: ErrorCollector, path: Path, options: unknown): void {
  if (options === undefined || options === null) return;
  if (!Array.isArray(options)) {
    c.add(path, 'BASE_TYPE_LIST', 'Must be a list.');
    return;
  }
  if (options.length > LIMITS.commandOptions) c.maxLength(path, LIMITS.commandOptions);
  let sawOptional = false;
  options.forEach((option, i) => {
    const p = [...path, i];
    if (!isObject(option)) return;
    validateNameAndDescription(c, p, option, true);
    if (option.required === true && sawOptional) {
      c.add([...p, 'required'], 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options');
    }
    if (option.required !== true && option.type !== 1 && option.type !== 2) sawOptional = true;
    if (Array.isArray(option.choices) && option.choices.length > LIMITS.optionChoices) {
      c.maxLength([...p, 'choices'], LIMITS.optionChoices);
    }
    validateOptionList(c, [...p, 'options'], option.options);
  });
}

function validateNameAndDescription(c: ErrorCollector, path: Path, command: Json, needsDescription: boolean): void {
  const name = command.name;
  if (typeof name !== 'string' || name.length === 0) {
    c.required([...path, 'name']);
  } else if (charLength(name) > LIMITS.commandName) {
    c.badLength([...path, 'name'], 1, LIMITS.commandName);
  } else if (needsDescription && (!COMMAND_NAME.test(name) || name !== name.toLowerCase())) {
    c.add([...path, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', `Command name is invalid`);
  }
  if (needsDescription) {
    const description = command.description;
    if (typeof description !== 'string') c.required([...path, 'description']);
    else if (charLength(description) < 1 || charLength(description) > LIMITS.commandDescription) {
      c.badLength([...path, 'description'], 1, LIMITS.commandDescription);
    }
  }
}

/** Validates one command (path prefix `[index]` for bulk overwrites). */
export function collectCommandErrors(c: ErrorCollector, path: Path, command: unknown): void {
  if (!isObject(command)) {
    c.add(path, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    return;
  }
  const type = typeof command.type === 'number' ? command.type : 1;
  validateNameAndDescription(c, path, command, type === 1);
  if (type === 1) validateOptionList(c, [...path, 'options'], command.options);
}
