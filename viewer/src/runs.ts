/**
 * The runs view: learning curves from one or more trainer metrics.jsonl files overlaid, any
 * numeric metric against the step or the cumulative sampled tokens.
 */
import { lineChart, type Series } from "./chart.js";
import { h } from "./dom.js";
import type { Model } from "./model.js";

const PREFERRED = ["reward_mean", "accuracy", "eval_accuracy", "ppo_kl", "kl_ref", "entropy_mean", "response_len_mean", "loss"];

export class RunsView {
  readonly el = h("section", { class: "runs" });
  private y = "reward_mean";
  private x = "step";

  constructor(private model: Model) {}

  render(): void {
    const files = this.model.metrics;
    if (files.length === 0) {
      this.el.replaceChildren(h("p", { class: "note", text: "No metrics.jsonl: give one or more to creditflow view (a training run's DIR/metrics.jsonl)." }));
      return;
    }
    const keys = new Set<string>();
    for (const f of files) for (const r of f.rows) for (const k of Object.keys(r)) keys.add(k);
    const ys = [...PREFERRED.filter((k) => keys.has(k)), ...[...keys].filter((k) => !PREFERRED.includes(k) && k !== "step").sort()];
    if (!keys.has(this.y)) this.y = ys[0] ?? "step";
    const xs = ["step", ...(keys.has("sampled_tokens") ? ["sampled_tokens"] : [])];
    const ySel = h("select", { id: "runs-y" }, ...ys.map((k) => h("option", { value: k, text: k })));
    const xSel = h("select", { id: "runs-x" }, ...xs.map((k) => h("option", { value: k, text: k === "step" ? "step" : "sampled tokens" })));
    ySel.value = this.y;
    xSel.value = this.x;
    ySel.addEventListener("change", () => ((this.y = ySel.value), this.render()));
    xSel.addEventListener("change", () => ((this.x = xSel.value), this.render()));
    const series: Series[] = files.map((f) => {
      const rows = f.rows.filter((r) => typeof r[this.y] === "number" && typeof r[this.x] === "number");
      return { label: f.name, x: rows.map((r) => r[this.x]), y: rows.map((r) => r[this.y]) };
    });
    this.el.replaceChildren(
      h("div", { class: "controls" }, h("label", { for: "runs-y", text: "metric " }), ySel, h("label", { for: "runs-x", text: " against " }), xSel),
      lineChart(`${this.y} (${files.length} run${files.length > 1 ? "s" : ""})`, this.x === "step" ? "step" : "sampled tokens", this.y, series),
      h("p", { class: "note", text: files.map((f) => `${f.name}: ${f.rows.length} steps`).join("; ") }),
    );
  }
}
