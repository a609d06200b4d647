/**
 * The diverging credit scale: t = value / scale clamped to [-1, 1], linear in sRGB from the
 * scheme's neutral (t = 0) to red (t = -1, negative credit) or blue (t = +1, positive credit),
 * after ColorBrewer's RdBu end points. `scale` is the largest |advantage x weight| over the
 * trainable tokens of what is shown (one method over the whole file, or one row), so every
 * column uses its full range and the legend states the number.
 */
export type Rgb = readonly [number, number, number];

export const NEGATIVE: Rgb = [178, 24, 43];
export const POSITIVE: Rgb = [33, 102, 172];
export const NEUTRAL_LIGHT: Rgb = [247, 247, 247];
export const NEUTRAL_DARK: Rgb = [52, 52, 56];

export function heatRgb(value: number, scale: number, dark: boolean): Rgb {
  const t = scale > 0 ? Math.max(-1, Math.min(1, value / scale)) : 0;
  const end = t < 0 ? NEGATIVE : POSITIVE;
  const mid = dark ? NEUTRAL_DARK : NEUTRAL_LIGHT;
  const a = Math.abs(t);
  return [0, 1, 2].map((j) => Math.round(mid[j] + (end[j] - mid[j]) * a)) as unknown as Rgb;
}

export const css = (c: Rgb) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

/** Light text on strongly coloured cells, the scheme's text elsewhere. */
export function needsLightText(value: number, scale: number): boolean {
  return scale > 0 && Math.abs(value / scale) > 0.55;
}

/** Largest |v| over the tokens with mask 1 (1 when all are 0, so the scale is never 0). */
export function scaleOf(values: ArrayLike<number>, mask: ArrayLike<number> | null, from = 0, to = values.length): number {
  let m = 0;
  for (let k = from; k < to; k++) if (!mask || mask[k] !== 0) m = Math.max(m, Math.abs(values[k]));
  return m > 0 ? m : 1;
}

/** Number of heat bins the canvas list quantises to (bin BINS is "mask 0"). */
export const BINS = 255;

/** Heat bin of a value: 0 .. BINS-1, the middle bin being 0 credit. */
export function binOf(value: number, scale: number): number {
  const t = scale > 0 ? Math.max(-1, Math.min(1, value / scale)) : 0;
  return Math.round(((t + 1) / 2) * (BINS - 1));
}

/** The css colour of each bin, for one scheme. */
export function binPalette(dark: boolean): string[] {
  const out: string[] = [];
  for (let b = 0; b < BINS; b++) out.push(css(heatRgb((b / (BINS - 1)) * 2 - 1, 1, dark)));
  return out;
}
