/**
 * Inline SVG charts for the HTML report: no script, no network, no library, so the report is a
 * single file that any browser renders as is.
 */

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** 20 distinguishable colours (Tableau 20 order), reused cyclically. */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");

export interface Bar {
  label: string;
  value: number | null;
  /** Optional error half-width or range drawn as a whisker. */
  lo?: number;
  hi?: number;
  highlight?: boolean;
}

/** Horizontal bar chart; values may be negative (bars grow from 0). */
export function barChart(title: string, bars: readonly Bar[], opts: { min?: number; max?: number; width?: number } = {}): string {
  const rowH = 16, labelW = 150, valueW = 50, W = opts.width ?? 560, top = 24;
  const plotW = W - labelW - valueW - 10;
  const vals = bars.flatMap((b) => [b.value, b.lo, b.hi]).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const lo = Math.min(opts.min ?? 0, ...vals, 0), hi = Math.max(opts.max ?? 0, ...vals, 0.001);
  const x = (v: number) => labelW + ((v - lo) / (hi - lo || 1)) * plotW;
  const H = top + bars.length * rowH + 20;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="4" y="15" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${x(0)}" y1="${top - 4}" x2="${x(0)}" y2="${H - 18}" stroke="#444"/>`];
  bars.forEach((b, k) => {
    const y = top + k * rowH;
    parts.push(`<text x="${labelW - 4}" y="${y + 11}" font-size="11" text-anchor="end"${b.highlight ? ' font-weight="bold"' : ""}>${esc(b.label)}</text>`);
    if (b.value !== null && Number.isFinite(b.value)) {
      const x0 = Math.min(x(0), x(b.value)), w = Math.abs(x(b.value) - x(0));
      parts.push(`<rect x="${x0}" y="${y + 2}" width="${Math.max(w, 0.5)}" height="${rowH - 5}" fill="${b.highlight ? "#d62728" : b.value >= 0 ? "#1f77b4" : "#9467bd"}"><title>${esc(`${b.label}: ${f3(b.value)}`)}</title></rect>`);
      if (b.lo !== undefined && b.hi !== undefined && Number.isFinite(b.lo) && Number.isFinite(b.hi)) {
        parts.push(`<line x1="${x(b.lo)}" y1="${y + 7}" x2="${x(b.hi)}" y2="${y + 7}" stroke="#000" stroke-width="1"/>`);
      }
      parts.push(`<text x="${W - valueW}" y="${y + 11}" font-size="11">${f3(b.value)}</text>`);
    } else parts.push(`<text x="${labelW + 4}" y="${y + 11}" font-size="11" fill="#888">n/a</text>`);
  });
  parts.push(`<text x="${labelW}" y="${H - 4}" font-size="10" fill="#555">${f3(lo)}</text>`, `<text x="${labelW + plotW}" y="${H - 4}" font-size="10" fill="#555" text-anchor="end">${f3(hi)}</text>`);
  parts.push("</svg>");
  return parts.join("");
}

export interface Series {
  label: string;
  color: string;
  /** Mean line. */
  xs: number[];
  ys: number[];
  /** Band (e.g. min/max over seeds), same xs. */
  lo?: number[];
  hi?: number[];
  bold?: boolean;
}

/** Line chart with optional shaded bands and a legend on the right. */
export function lineChart(title: string, series: readonly Series[], xLabel: string, yLabel: string): string {
  const W = 760, H = 340, L = 50, R = 190, T = 26, B = 40;
  const pw = W - L - R, ph = H - T - B;
  const allX = series.flatMap((s) => s.xs), allY = series.flatMap((s) => [...s.ys, ...(s.lo ?? []), ...(s.hi ?? [])]).filter(Number.isFinite);
  const x0 = Math.min(0, ...allX), x1 = Math.max(1, ...allX);
  let y0 = Math.min(...allY), y1 = Math.max(...allY);
  if (!Number.isFinite(y0)) { y0 = 0; y1 = 1; }
  const pad = Math.max(0.02, (y1 - y0) * 0.08);
  y0 = Math.max(0, y0 - pad);
  y1 = Math.min(1, y1 + pad);
  if (y1 <= y0) y1 = y0 + 0.05;
  const X = (v: number) => L + ((v - x0) / (x1 - x0 || 1)) * pw;
  const Y = (v: number) => T + ph - ((v - y0) / (y1 - y0)) * ph;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="4" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`];
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + ((y1 - y0) * k) / 4, xv = x0 + ((x1 - x0) * k) / 4;
    parts.push(`<line x1="${L}" y1="${Y(yv)}" x2="${L + pw}" y2="${Y(yv)}" stroke="#eee"/>`,
      `<text x="${L - 4}" y="${Y(yv) + 4}" font-size="10" text-anchor="end">${yv.toFixed(y1 - y0 < 0.2 ? 3 : 2)}</text>`,
      `<text x="${X(xv)}" y="${T + ph + 14}" font-size="10" text-anchor="middle">${Math.round(xv)}</text>`);
  }
  parts.push(`<text x="${L + pw / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="12" y="${T + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${T + ph / 2})">${esc(yLabel)}</text>`);
  for (const s of series) {
    if (s.lo && s.hi) {
      const pts = [...s.xs.map((x, k) => `${X(x)},${Y(s.hi?.[k] ?? s.ys[k])}`), ...s.xs.map((x, k) => `${X(x)},${Y(s.lo?.[k] ?? s.ys[k])}`).reverse()];
      parts.push(`<polygon points="${pts.join(" ")}" fill="${s.color}" fill-opacity="0.12" stroke="none"/>`);
    }
  }
  series.forEach((s, k) => {
    const pts = s.xs.map((x, j) => `${X(x)},${Y(s.ys[j])}`).join(" ");
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.bold ? 3 : 1.5}"><title>${esc(s.label)}</title></polyline>`);
    const ly = T + 4 + k * 14;
    parts.push(`<line x1="${L + pw + 10}" y1="${ly + 5}" x2="${L + pw + 26}" y2="${ly + 5}" stroke="${s.color}" stroke-width="${s.bold ? 3 : 2}"/>`,
      `<text x="${L + pw + 30}" y="${ly + 9}" font-size="10"${s.bold ? ' font-weight="bold"' : ""}>${esc(s.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

/** Diverging colour for c in [-1, 1]: blue (negative), white (0), red (positive). */
function diverging(c: number): string {
  const v = Math.max(-1, Math.min(1, Number.isFinite(c) ? c : 0));
  const a = Math.round(255 * (1 - Math.abs(v)));
  return v >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
}

/**
 * Token heatmap: one row per credit source (oracle first), one cell per token, each row scaled
 * by its own largest |credit| so the pattern, not the scale, is compared. Decisive tokens are
 * outlined.
 */
export function heatmap(title: string, tokens: readonly string[], rows: readonly { label: string; values: readonly number[] }[], decisive: readonly number[]): string {
  const cw = 16, rh = 14, L = 150, T = 34;
  const W = Math.max(720, L + tokens.length * cw + 10), H = T + rows.length * rh + 6;
  const dec = new Set(decisive);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="4" y="13" font-size="12" font-weight="bold">${esc(title)}</text>`];
  tokens.forEach((t, k) => {
    const shown = t === "" ? "·" : t;
    parts.push(`<text x="${L + k * cw + cw / 2}" y="${T - 5}" font-size="11" font-family="monospace" text-anchor="middle"${dec.has(k) ? ' font-weight="bold" fill="#d62728"' : ""}>${esc(shown)}</text>`);
  });
  rows.forEach((r, j) => {
    const y = T + j * rh;
    const m = Math.max(1e-12, ...r.values.map((v) => Math.abs(v)));
    parts.push(`<text x="${L - 4}" y="${y + 10}" font-size="10" text-anchor="end"${j === 0 ? ' font-weight="bold"' : ""}>${esc(r.label)}</text>`);
    r.values.forEach((v, k) => {
      parts.push(`<rect x="${L + k * cw}" y="${y}" width="${cw - 1}" height="${rh - 1}" fill="${diverging(v / m)}"${dec.has(k) ? ' stroke="#000" stroke-width="1"' : ""}><title>${esc(`${r.label} token ${k} '${tokens[k]}': ${v.toPrecision(3)}`)}</title></rect>`);
    });
  });
  parts.push("</svg>");
  return parts.join("");
}
