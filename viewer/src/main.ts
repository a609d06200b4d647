/**
 * creditflow view: the page. Reads the data `creditflow view` wrote into data.js (or files opened
 * in the page), and shows four views as tabs: credit (token heatmaps under any method), group
 * (prefix tree), runs (learning curves) and CreditBench results.
 */
import "../../src/methods/index.js";
import { DATA_GLOBAL, type ViewData } from "../../src/view/types.js";
import { textViewFile } from "../../src/view/records.js";
import { BenchPanel } from "./bench.js";
import { CreditView } from "./credit.js";
import { h } from "./dom.js";
import { Model } from "./model.js";
import { RunsView } from "./runs.js";
import { initScheme, onSchemeChange } from "./scheme.js";
import { renderTree } from "./tree.js";
import "./style.css";

type Tab = "credit" | "tree" | "runs" | "bench";
const TABS: [Tab, string][] = [["credit", "Credit"], ["tree", "Group tree"], ["runs", "Runs"], ["bench", "CreditBench"]];

const model = new Model();
const status = document.getElementById("status") as HTMLElement;
const main = document.getElementById("main") as HTMLElement;
const tabsEl = document.getElementById("tabs") as HTMLElement;
let tab: Tab = "credit";
let treeUnit: "token" | "segment" = "token";

const credit = new CreditView(model, () => show("tree"));
const runs = new RunsView(model);
const bench = new BenchPanel(model);
const treePanel = h("section", { class: "group" });
const panels: Record<Tab, HTMLElement> = { credit: credit.el, tree: treePanel, runs: runs.el, bench: bench.el };

function renderTreePanel(): void {
  const set = credit.set;
  if (!set) {
    treePanel.replaceChildren(h("p", { class: "note", text: "No rollout file loaded." }));
    return;
  }
  const i = Math.min(credit.state.selected, set.batch.n - 1);
  const unitSel = h("select", { id: "tree-unit" }, h("option", { value: "token", text: "tokens (TEMPO: V = mean outcome score below)" }), h("option", { value: "segment", text: "segments from step_ends (SPO-tree: V = mean of children)" }));
  unitSel.value = treeUnit;
  unitSel.addEventListener("change", () => {
    treeUnit = unitSel.value as "token" | "segment";
    renderTreePanel();
  });
  let body: HTMLElement;
  try {
    body = renderTree(model, set, i, treeUnit);
  } catch (e) {
    body = h("p", { class: "col-error", role: "alert", text: (e as Error).message });
  }
  treePanel.replaceChildren(
    h("div", { class: "controls" }, h("h2", { text: `group ${set.batch.groupNames[set.batch.group[i]]} (of rollout ${set.batch.ids[i]})` }), h("label", { for: "tree-unit", text: " units " }), unitSel),
    h("p", { class: "note", text: "Large circles: the root and branch points, labelled with V; colour: V - V(root) on the credit scale; every response's id and reward where it ends. Hover or focus a node for its numbers." }),
    body,
  );
}

function show(t: Tab): void {
  tab = t;
  for (const b of tabsEl.querySelectorAll("button")) {
    const on = b.dataset.tab === t;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  if (t === "tree") renderTreePanel();
  if (t === "runs") runs.render();
  if (t === "bench") bench.render();
  main.replaceChildren(panels[t]);
  if (t === "credit") credit.refresh();
  document.body.dataset.tab = t;
}

function buildTabs(): void {
  tabsEl.replaceChildren(
    ...TABS.map(([t, label]) => {
      const b = h("button", { type: "button", role: "tab", id: `tab-${t}`, "data-tab": t, text: label });
      b.addEventListener("click", () => show(t));
      return b;
    }),
  );
  tabsEl.addEventListener("keydown", (e) => {
    const k = TABS.findIndex(([t]) => t === tab);
    const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    const next = TABS[(k + d + TABS.length) % TABS.length][0];
    show(next);
    (document.getElementById(`tab-${next}`) as HTMLElement).focus();
  });
}

function describe(): string {
  const parts = [
    `${model.sets.length} rollout file${model.sets.length === 1 ? "" : "s"}`,
    `${model.advantageFiles.length} advantage file${model.advantageFiles.length === 1 ? "" : "s"}`,
    `${model.metrics.length} metrics file${model.metrics.length === 1 ? "" : "s"}`,
    `${model.bench.length} CreditBench result${model.bench.length === 1 ? "" : "s"}`,
  ];
  return `${parts.join(", ")}${model.vocab ? `; token texts from ${model.vocab.source}` : "; token ids shown (no vocabulary: --vocab or --tokenizer)"}`;
}

async function openFiles(files: FileList): Promise<void> {
  for (const f of Array.from(files)) {
    try {
      const bytes = new Uint8Array(await f.arrayBuffer());
      if (bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 && bytes[3] === 0x31) {
        throw new Error(`${f.name}: Parquet is read by the command line (creditflow view ${f.name}), not in the page`);
      }
      model.addFile(textViewFile(f.name, new TextDecoder().decode(bytes)));
    } catch (e) {
      status.textContent = (e as Error).message;
      status.classList.add("error");
      return;
    }
  }
  status.classList.remove("error");
  status.textContent = describe();
  show(tab);
}

function start(): void {
  const t0 = performance.now();
  initScheme(document.getElementById("scheme") as HTMLButtonElement);
  buildTabs();
  const data = (window as unknown as Record<string, ViewData | undefined>)[DATA_GLOBAL];
  try {
    if (data) model.add(data);
    status.textContent = describe();
  } catch (e) {
    status.textContent = (e as Error).message;
    status.classList.add("error");
  }
  const input = document.getElementById("open") as HTMLInputElement;
  input.addEventListener("change", () => input.files && openFiles(input.files));
  onSchemeChange(() => show(tab));
  show(model.sets.length ? "credit" : model.metrics.length ? "runs" : model.bench.length ? "bench" : "credit");
  // For scripts and the benchmark: milliseconds from script start to an interactive page.
  document.body.dataset.loadMs = String(Math.round(performance.now() - t0));
  document.body.dataset.ready = "1";
}

start();
