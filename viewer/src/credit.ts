/**
 * The credit view: a rollout file's rollouts in a virtualised list (list.ts), a form per
 * compared column (a method with options, or an advantage file), and the selected rollout under
 * every column side by side as token rows, with steps from step_ends as alternating bands.
 */
import { h, fmt } from "./dom.js";
import { methodForm, type MethodChoice } from "./form.js";
import { RolloutList } from "./list.js";
import type { Column, ColumnSpec, Model, RolloutSet } from "./model.js";
import { legend, tokenRow, wireTokens, type TokenCell } from "./tokens.js";

export interface CreditState {
  set: number;
  selected: number;
  columns: ColumnSpec[];
}

function defaultColumns(model: Model, set: RolloutSet): ColumnSpec[] {
  const files = model.filesFor(set).map((f): ColumnSpec => ({ kind: "file", file: f.name }));
  return [...files.slice(0, 1), { kind: "method", method: "grpo", options: {} }];
}

export class CreditView {
  readonly el: HTMLElement;
  private list: RolloutList;
  private forms = h("div", { class: "forms" });
  private detail = h("section", { class: "detail", "aria-label": "selected rollout" });
  private setSelect = h("select", { id: "set-select", "aria-label": "rollout file" });
  private info = h("p", { class: "fileinfo" });
  state: CreditState = { set: 0, selected: 0, columns: [] };
  columns: Column[] = [];

  constructor(private model: Model, private onGroup: () => void) {
    this.list = new RolloutList((i, open) => {
      this.state.selected = i;
      this.renderDetail();
      if (open) (this.detail.querySelector('.tok[tabindex="0"]') as HTMLElement | null)?.focus();
    });
    const add = h("button", { type: "button", id: "add-column", text: "+ compare another method" });
    add.addEventListener("click", () => {
      this.state.columns.push({ kind: "method", method: "grpo", options: {} });
      this.refresh(true);
    });
    this.setSelect.addEventListener("change", () => {
      this.state = { set: Number(this.setSelect.value), selected: 0, columns: [] };
      this.refresh(true);
    });
    wireTokens(this.detail);
    this.el = h(
      "section",
      { class: "credit" },
      h("div", { class: "controls" }, h("label", { for: "set-select", text: "rollouts " }), this.setSelect, this.info),
      h("div", { class: "formsbar" }, this.forms, add),
      this.list.el,
      this.detail,
    );
  }

  get set(): RolloutSet | undefined {
    return this.model.sets[this.state.set];
  }

  /** Re-reads the model (files added) and redraws; `forms` rebuilds the column forms too. */
  refresh(forms = false): void {
    const set = this.set;
    this.setSelect.replaceChildren(...this.model.sets.map((s, k) => h("option", { value: k, text: `${s.name} (${s.batch.n} rollouts)` })));
    this.setSelect.value = String(this.state.set);
    if (!set) {
      this.info.textContent = "No rollout file: give one to creditflow view, or open one above.";
      return;
    }
    this.info.textContent = `${set.batch.n} rollouts, ${set.batch.nTokens} tokens, ${set.batch.groupNames.length} groups; read as ${set.how}`;
    if (this.state.columns.length === 0) {
      this.state.columns = defaultColumns(this.model, set);
      forms = true;
    }
    if (forms) this.buildForms(set);
    this.columns = this.state.columns.map((c) => this.model.column(set, c));
    this.list.show(set, this.columns, this.state.selected);
    this.renderDetail();
  }

  private buildForms(set: RolloutSet): void {
    const files = this.model.filesFor(set).map((f) => f.name);
    this.forms.replaceChildren(
      ...this.state.columns.map((spec, k) => {
        const initial: MethodChoice | { file: string } = spec.kind === "file" ? { file: spec.file } : { method: spec.method, options: spec.options };
        const form = methodForm(
          initial,
          files,
          (c) => {
            this.state.columns[k] = "file" in c ? { kind: "file", file: c.file } : { kind: "method", method: c.method, options: c.options };
            this.refresh();
          },
          this.state.columns.length > 1
            ? () => {
                this.state.columns.splice(k, 1);
                this.refresh(true);
              }
            : null,
        );
        form.dataset.column = String(k);
        return form;
      }),
    );
  }

  /** The selected rollout under every column. */
  renderDetail(): void {
    const set = this.set;
    if (!set) return;
    const { batch } = set;
    const i = Math.min(this.state.selected, batch.n - 1);
    const a = batch.offsets[i], b = batch.offsets[i + 1];
    // Step of each token from step_ends (the token index of each step's last token).
    const step = new Int32Array(b - a).fill(-1);
    const stepEnd = new Uint8Array(b - a);
    if (batch.hasSteps[i]) {
      let s = 0;
      let from = 0;
      for (let j = batch.stepOffsets[i]; j < batch.stepOffsets[i + 1]; j++, s++) {
        const end = batch.stepEnds[j];
        for (let k = from; k <= end; k++) step[k] = s;
        stepEnd[end] = 1;
        from = end + 1;
      }
    }
    const stepRewards = batch.stepRewards?.present[i] ? batch.stepRewards.data : null;
    const header = h(
      "div",
      { class: "detail-head" },
      h("h2", { text: `rollout ${batch.ids[i]}` }),
      h("span", { text: `group ${batch.groupNames[batch.group[i]]} \u00b7 reward ${fmt(batch.reward[i])} \u00b7 ${b - a} tokens${batch.hasSteps[i] ? ` \u00b7 ${batch.stepOffsets[i + 1] - batch.stepOffsets[i]} steps (bands)` : ""}${batch.finished[i] ? "" : " \u00b7 cut off"}` }),
    );
    const treeButton = h("button", { type: "button", id: "open-tree", text: "open this group's prefix tree" });
    treeButton.addEventListener("click", this.onGroup);
    header.append(treeButton);
    const rows = this.columns.map((c, col) => {
      const cells: TokenCell[] = [];
      for (let k = a; k < b; k++) {
        const id = batch.tokens[k];
        const adv = c.advantages ? c.advantages[k] : NaN;
        const w = c.weights ? c.weights[k] : 1;
        const t = k - a;
        const info: [string, string][] = [
          ["token", `${t} (id ${id})`],
          ["text", JSON.stringify(this.model.tokenText(id))],
          ["advantage", fmt(adv)],
          ["weight", fmt(w)],
          ["advantage x weight", fmt(c.shown ? c.shown[k] : NaN)],
          ["log-prob", batch.logprobs?.present[i] ? fmt(batch.logprobs.data[k]) : "n/a"],
          ["entropy", batch.entropies?.present[i] ? fmt(batch.entropies.data[k]) : "n/a"],
          ["mask", batch.mask[k] === 0 ? "0 (tool token: no credit)" : "1"],
        ];
        if (step[t] >= 0) info.push(["step", `${step[t]}${stepRewards ? ` (step reward ${fmt(stepRewards[batch.stepOffsets[i] + step[t]])})` : ""}`]);
        cells.push({
          text: this.model.tokenText(id),
          value: c.shown ? c.shown[k] : 0,
          mask: batch.mask[k],
          step: step[t],
          stepEnd: stepEnd[t] === 1,
          info,
          data: { id: String(id), adv: String(adv), weight: String(w), shown: String(c.shown ? c.shown[k] : NaN), column: String(col) },
        });
      }
      const row = tokenRow(c.label, cells, c.scale);
      row.dataset.column = String(col);
      return h("div", { class: "colblock" }, row, c.error ? h("p", { class: "col-error", role: "alert", text: c.error }) : legend(c.scale));
    });
    this.detail.replaceChildren(header, ...rows);
  }
}
