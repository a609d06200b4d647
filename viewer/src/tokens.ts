/**
 * Token rows in the DOM (one rollout under one method, or a CreditBench heatmap row): each token
 * a focusable span coloured on the credit scale, its values in data attributes and in a tooltip
 * on hover or focus. Arrow keys move between tokens and rows (one tab stop per row group).
 */
import { css, heatRgb, needsLightText } from "./colour.js";
import { fmt, h } from "./dom.js";
import { isDark } from "./scheme.js";

export interface TokenCell {
  text: string;
  /** What is coloured (advantage x weight). */
  value: number;
  /** 0: a tool/environment token, drawn hatched and never coloured. */
  mask: number;
  /** Index of the step (from step_ends) the token belongs to, or -1. */
  step: number;
  stepEnd: boolean;
  /** Extra marker (CreditBench decisive tokens). */
  marked?: boolean;
  /** Tooltip lines. */
  info: [string, string][];
  /** data-* attributes for tests and scripts. */
  data: Record<string, string>;
}

const infoOf = new WeakMap<Element, [string, string][]>();

/** Shows newlines and tabs visibly; an empty token keeps a width. */
function visible(text: string): string {
  if (text === "") return "\u2205";
  return text.replace(/\n/g, "\u23ce").replace(/\t/g, "\u21e5");
}

export function tokenRow(label: string, cells: TokenCell[], scale: number, extraClass = ""): HTMLElement {
  const dark = isDark();
  const row = h("div", { class: `tokrow ${extraClass}`, role: "group", "aria-label": label, "data-label": label, "data-scale": String(scale) });
  const toks = h("div", { class: "toks" });
  cells.forEach((c, k) => {
    const span = h("span", { class: "tok", tabindex: -1, "data-i": k, "data-mask": c.mask });
    span.textContent = visible(c.text);
    for (const [key, v] of Object.entries(c.data)) span.dataset[key] = v;
    if (c.mask === 0) span.classList.add("masked");
    else {
      span.style.backgroundColor = css(heatRgb(c.value, scale, dark));
      if (needsLightText(c.value, scale)) span.classList.add("light");
    }
    if (c.step >= 0) span.classList.add(c.step % 2 === 0 ? "band-a" : "band-b");
    if (c.stepEnd) span.classList.add("step-end");
    if (c.marked) span.classList.add("marked");
    infoOf.set(span, c.info);
    toks.append(span);
  });
  (toks.firstElementChild as HTMLElement | null)?.setAttribute("tabindex", "0");
  row.append(h("div", { class: "rowlabel", text: label }), toks);
  return row;
}

/** A legend for one scale: the gradient with -scale, 0 and +scale. */
export function legend(scale: number, what = "advantage x weight"): HTMLElement {
  const dark = isDark();
  const stops = [-1, -0.5, 0, 0.5, 1].map((t) => css(heatRgb(t, 1, dark))).join(", ");
  return h(
    "div",
    { class: "legend", "aria-label": `colour scale: ${what} from -${fmt(scale)} (red) to +${fmt(scale)} (blue)` },
    h("span", { text: `-${fmt(scale)}` }),
    h("span", { class: "ramp", style: `background: linear-gradient(to right, ${stops})` }),
    h("span", { text: `+${fmt(scale)}` }),
    h("span", { class: "what", text: what }),
    h("span", { class: "tok masked legend-mask", text: "tool" }),
  );
}

/** Tooltip and keyboard handling for every token row under `root` (installed once per root). */
export function wireTokens(root: HTMLElement): void {
  const tip = document.getElementById("tip") as HTMLElement;
  const show = (el: Element) => {
    const info = infoOf.get(el);
    if (!info) return;
    tip.replaceChildren(...info.map(([k, v]) => h("div", {}, h("b", { text: `${k}: ` }), v)));
    tip.hidden = false;
    const r = el.getBoundingClientRect();
    const top = r.bottom + 6 + tip.offsetHeight > window.innerHeight ? r.top - tip.offsetHeight - 6 : r.bottom + 6;
    tip.style.left = `${Math.max(4, Math.min(window.innerWidth - tip.offsetWidth - 4, r.left))}px`;
    tip.style.top = `${Math.max(4, top)}px`;
  };
  const hide = () => (tip.hidden = true);
  root.addEventListener("mouseover", (e) => {
    const t = (e.target as Element).closest(".tok");
    if (t && infoOf.has(t)) show(t);
  });
  root.addEventListener("mouseout", hide);
  root.addEventListener("focusin", (e) => {
    const t = (e.target as Element).closest(".tok");
    if (t) show(t);
  });
  root.addEventListener("focusout", hide);
  root.addEventListener("keydown", (e) => {
    const t = (e.target as Element).closest(".tok") as HTMLElement | null;
    if (!t) return;
    if (e.key === "Escape") return hide();
    const row = t.parentElement as HTMLElement;
    const k = Array.prototype.indexOf.call(row.children, t);
    let next: Element | null | undefined = null;
    if (e.key === "ArrowRight") next = t.nextElementSibling;
    else if (e.key === "ArrowLeft") next = t.previousElementSibling;
    else if (e.key === "Home") next = row.firstElementChild;
    else if (e.key === "End") next = row.lastElementChild;
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const rows = [...root.querySelectorAll(".toks")];
      const other = rows[rows.indexOf(row) + (e.key === "ArrowDown" ? 1 : -1)];
      next = other?.children[Math.min(k, other.children.length - 1)];
    } else return;
    e.preventDefault();
    if (next instanceof HTMLElement) {
      t.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  });
}
