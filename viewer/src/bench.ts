/**
 * CreditBench results.json: per task the fidelity table (each method's credit against the
 * oracle A*), Spearman bars, the benchmark's heatmaps with the oracle A* row beside every
 * method's row, and the efficiency table and accuracy curves. Values are the file's; nothing
 * is recomputed.
 */
import type { BenchView } from "../../src/view/types.js";
import { lineChart } from "./chart.js";
import { css, heatRgb, scaleOf } from "./colour.js";
import { fmt, h } from "./dom.js";
import type { Model } from "./model.js";
import { isDark } from "./scheme.js";
import { tokenRow, wireTokens, type TokenCell } from "./tokens.js";

type Fidelity = BenchView["fidelity"][number];
type Efficiency = BenchView["efficiency"][number];

function table(head: string[], rows: (string | number)[][], cls: string): HTMLElement {
  return h(
    "table",
    { class: cls },
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, k) => (k === 0 ? h("th", { scope: "row", text: String(c) }) : h("td", { text: String(c) })))))),
  );
}

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? "n/a" : `${Math.round(100 * x)}%`);

function bars(f: Fidelity): HTMLElement {
  const dark = isDark();
  const max = Math.max(1e-9, ...f.methods.map((m) => Math.abs(m.spearman)).filter(Number.isFinite));
  return h(
    "div",
    { class: "bars", role: "img", "aria-label": `Spearman against the oracle, ${f.task}` },
    ...f.methods.map((m) =>
      h(
        "div",
        { class: "barrow", "data-method": m.method, "data-spearman": m.spearman },
        h("span", { class: "barlabel", text: m.method }),
        h("span", { class: "bartrack" }, h("span", { class: `sbar ${m.spearman < 0 ? "neg" : "pos"}`, style: `width: ${(50 * Math.abs(m.spearman)) / max}%; background: ${css(heatRgb(m.spearman, max, dark))}` })),
        h("span", { class: "barvalue", text: fmt(m.spearman, 3) }),
      ),
    ),
  );
}

function heatmaps(f: Fidelity): HTMLElement {
  const box = h("div", { class: "heatmaps" });
  wireTokens(box);
  f.heatmaps.forEach((hm, k) => {
    const decisive = new Set(hm.decisive);
    const rowOf = (label: string, values: number[], extra: (j: number) => [string, string][]) => {
      const scale = scaleOf(values, null);
      const cells: TokenCell[] = hm.tokens.map((t, j) => ({
        text: t, value: values[j], mask: 1, step: -1, stepEnd: false, marked: decisive.has(j),
        info: [["token", String(j)], ["text", JSON.stringify(t)], [label, fmt(values[j])], ...extra(j), ["decisive", decisive.has(j) ? "yes" : "no"]],
        data: { value: String(values[j]) },
      }));
      return tokenRow(label, cells, scale);
    };
    box.append(
      h("h4", { text: `response ${k + 1} (reward ${fmt(hm.reward)}; underlined: decisive tokens)` }),
      rowOf("oracle A*", hm.oracle, (j) => [["95% CI half-width", fmt(hm.ci[j])]]),
      ...Object.entries(hm.credit).map(([m, v]) => rowOf(m, v, (j) => [["oracle A*", fmt(hm.oracle[j])]])),
    );
  });
  return box;
}

function fidelity(f: Fidelity): HTMLElement {
  return h(
    "section",
    { class: "bench-task", "data-task": f.task },
    h("h3", { text: `credit fidelity: ${f.task}` }),
    h("p", { class: "note", text: `${f.responses} responses, ${f.responseTokens} tokens; oracle K = ${f.oracle.K}, split-half reliability ${fmt(f.oracle.reliability, 3)}` }),
    table(
      ["method", "Spearman", "Pearson", "Spearman per group", "sign agreement", "credit mass on decisive", "extra sampled tokens", "note"],
      [...f.methods.map((m) => [m.method, fmt(m.spearman, 3), fmt(m.pearson, 3), fmt(m.spearmanGroupMean, 3), pct(m.signAgreement), pct(m.massShare), m.extraSampledTokens, m.note]),
        ...(f.oracle.massShare !== null ? [["oracle A*", 1, 1, "", "", pct(f.oracle.massShare), "", "reference"]] : [])],
      "fidelity",
    ),
    bars(f),
    f.skipped.length ? h("p", { class: "note", text: `skipped: ${f.skipped.map((s) => `${s.method} (${s.reason})`).join("; ")}` }) : null,
    f.heatmaps.length ? heatmaps(f) : null,
  );
}

function efficiency(e: Efficiency): HTMLElement {
  const spread = (s: { n: number; mean: number; std: number }) => (s.n === 0 ? "n/a" : s.n > 1 ? `${fmt(s.mean)} \u00b1 ${fmt(s.std)}` : fmt(s.mean));
  return h(
    "section",
    { class: "bench-task", "data-task": e.task },
    h("h3", { text: `learning efficiency: ${e.task} (threshold ${fmt(e.threshold, 3)})` }),
    table(["method", "tokens to threshold", "ratio to grpo", "runs not reaching it"], e.methods.map((m) => [m.method, spread(m.tokensToThreshold), spread(m.tokensRatio), m.unreached]), "efficiency"),
    lineChart(`held-out accuracy, ${e.task}`, "sampled tokens", "accuracy", e.runs.map((r) => ({ label: `${r.method} seed ${r.seed}`, x: r.curve.map((p) => p.tokens), y: r.curve.map((p) => p.accuracy) }))),
  );
}

export class BenchPanel {
  readonly el = h("section", { class: "bench" });
  constructor(private model: Model) {}
  render(): void {
    if (this.model.bench.length === 0) {
      this.el.replaceChildren(h("p", { class: "note", text: "No CreditBench results.json: give one to creditflow view (creditflow bench writes it)." }));
      return;
    }
    this.el.replaceChildren(
      ...this.model.bench.map((b) =>
        h("article", {}, h("h2", { text: b.name }), h("p", { class: "note" }, h("code", { text: b.results.command })), ...b.results.fidelity.map(fidelity), ...b.results.efficiency.map(efficiency)),
      ),
    );
  }
}
