import type { Severity } from '../../pipeline/triage/types.js';

/** Embed colour of each severity: critical red, high orange, medium yellow, low blue, info grey. */
export const SEVERITY_COLORS: Readonly<Record<Severity, number>> = Object.freeze({
  critical: 0xd32f2f,
  high: 0xf57c00,
  medium: 0xfbc02d,
  low: 0x1e88e5,
  info: 0x9e9e9e,
});

/** The embed colour (0xRRGGBB) for a severity; grey for anything unknown. */
export function severityColor(severity: Severity): number {
  return Object.hasOwn(SEVERITY_COLORS, severity) ? SEVERITY_COLORS[severity] : SEVERITY_COLORS.info;
}
