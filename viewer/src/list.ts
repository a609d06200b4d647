/**
 * The rollout list: every rollout of a file as one row of heat strips (one strip per compared
 * column), drawn on one canvas the size of the viewport. Only visible rows are drawn, on the
 * next animation frame after a scroll, so 10,000 rollouts of 256 tokens scroll like 10. Colours
 * are quantised to BINS bins per column once (Uint8Array), so a frame only fills rectangles.
 * Keyboard: the list is one focusable listbox; arrows, Page Up/Down, Home/End select, Enter opens.
 */
import { BINS, binOf, binPalette } from "./colour.js";
import { fmt, h } from "./dom.js";
import { isDark } from "./scheme.js";
import type { Column, RolloutSet } from "./model.js";

const LABEL_W = 190;
const STRIP_H = 8;
const MASK_BIN = BINS;

export class RolloutList {
  readonly el: HTMLElement;
  private scroller: HTMLElement;
  private spacer: HTMLElement;
  private canvas: HTMLCanvasElement;
  private set: RolloutSet | null = null;
  private bins: Uint8Array[] = [];
  private labels: string[] = [];
  private rowH = 14;
  private pending = false;
  selected = 0;

  constructor(private onSelect: (i: number, open: boolean) => void) {
    this.canvas = h("canvas", { class: "listcanvas", "aria-hidden": "true" });
    this.spacer = h("div", { class: "spacer" });
    this.scroller = h("div", { class: "listscroll", tabindex: 0, role: "listbox", "aria-label": "rollouts" }, this.spacer);
    this.el = h("div", { class: "list" }, this.scroller, this.canvas);
    this.scroller.addEventListener("scroll", () => this.schedule());
    this.scroller.addEventListener("click", (e) => {
      const r = this.scroller.getBoundingClientRect();
      const i = Math.floor((e.clientY - r.top + this.scroller.scrollTop) / this.rowH);
      if (this.set && i >= 0 && i < this.set.batch.n) this.select(i, true);
    });
    this.scroller.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  show(set: RolloutSet, columns: Column[], selected: number): void {
    this.set = set;
    const { batch } = set;
    this.bins = columns.map((c) => {
      const b = new Uint8Array(batch.nTokens);
      for (let k = 0; k < b.length; k++) b[k] = batch.mask[k] === 0 ? MASK_BIN : c.shown ? binOf(c.shown[k], c.scale) : (BINS - 1) / 2;
      return b;
    });
    this.labels = columns.map((c) => c.label);
    this.rowH = Math.max(14, 4 + columns.length * (STRIP_H + 1));
    this.spacer.style.height = `${batch.n * this.rowH}px`;
    // A short file gets a short list; a long one a fixed window that scrolls.
    this.el.style.height = `${Math.max(3 * this.rowH, Math.min(300, batch.n * this.rowH)) + 2}px`;
    this.selected = Math.min(selected, batch.n - 1);
    this.schedule();
  }

  select(i: number, open = false): void {
    if (!this.set) return;
    this.selected = Math.max(0, Math.min(this.set.batch.n - 1, i));
    const top = this.selected * this.rowH;
    const view = this.scroller.clientHeight;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + this.rowH > this.scroller.scrollTop + view) this.scroller.scrollTop = top + this.rowH - view;
    const id = this.set.batch.ids[this.selected];
    this.scroller.setAttribute("aria-label", `rollouts: ${this.selected + 1} of ${this.set.batch.n} selected, id ${id}, reward ${fmt(this.set.batch.reward[this.selected])}`);
    this.schedule();
    this.onSelect(this.selected, open);
  }

  private key(e: KeyboardEvent): void {
    if (!this.set) return;
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowH) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
    if (e.key in moves) {
      e.preventDefault();
      const m = moves[e.key];
      this.select(m === -Infinity ? 0 : m === Infinity ? this.set.batch.n - 1 : this.selected + m);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.onSelect(this.selected, true);
    }
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  private draw(): void {
    const t0 = performance.now();
    const set = this.set;
    const W = this.scroller.clientWidth;
    const H = this.scroller.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(W * dpr) || this.canvas.height !== Math.round(H * dpr)) {
      this.canvas.width = Math.round(W * dpr);
      this.canvas.height = Math.round(H * dpr);
      this.canvas.style.width = `${W}px`;
      this.canvas.style.height = `${H}px`;
    }
    const ctx = this.canvas.getContext("2d", { alpha: false }) as CanvasRenderingContext2D;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const style = getComputedStyle(document.documentElement);
    ctx.fillStyle = style.getPropertyValue("--bg").trim() || "#fff";
    ctx.fillRect(0, 0, W, H);
    if (!set) return;
    const { batch } = set;
    const palette = binPalette(isDark());
    const maskFill = style.getPropertyValue("--mask-a").trim() || "#999";
    const fg = style.getPropertyValue("--fg").trim() || "#000";
    const sel = style.getPropertyValue("--accent").trim() || "#06c";
    const top = this.scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / this.rowH));
    const last = Math.min(batch.n - 1, Math.floor((top + H) / this.rowH));
    const cw = Math.max(1, (W - LABEL_W - 8) / set.maxLen);
    ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', monospace";
    ctx.textBaseline = "middle";
    for (let i = first; i <= last; i++) {
      const y = i * this.rowH - top;
      ctx.fillStyle = fg;
      const label = `${batch.ids[i]}`;
      ctx.fillText(label.length > 18 ? `${label.slice(0, 17)}\u2026` : label, 4, y + this.rowH / 2);
      ctx.fillText(`r=${fmt(batch.reward[i], 3)}`, LABEL_W - 62, y + this.rowH / 2);
      const a = batch.offsets[i], b = batch.offsets[i + 1];
      this.bins.forEach((bins, c) => {
        const sy = y + 2 + c * (STRIP_H + 1);
        let x = LABEL_W;
        for (let k = a; k < b; k++, x += cw) {
          const bin = bins[k];
          ctx.fillStyle = bin === MASK_BIN ? maskFill : palette[bin];
          ctx.fillRect(x, sy, Math.ceil(cw), STRIP_H);
        }
      });
      if (i === this.selected) {
        ctx.strokeStyle = sel;
        ctx.lineWidth = 2;
        ctx.strokeRect(1, y + 1, W - 2, this.rowH - 2);
      }
    }
    // For scripts and tests: which rows this frame shows.
    this.canvas.dataset.firstRow = String(first);
    this.canvas.dataset.lastRow = String(last);
    this.canvas.dataset.rowHeight = String(this.rowH);
    this.canvas.dataset.columns = this.labels.join(",");
    this.canvas.dataset.frames = String(Number(this.canvas.dataset.frames ?? 0) + 1);
    this.canvas.dataset.drawMs = (performance.now() - t0).toFixed(2);
  }
}
