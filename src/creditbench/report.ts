/**
 * The benchmark's outputs from its results: a Markdown report (tables) and a self-contained
 * HTML report (the same tables plus inline-SVG learning curves, fidelity bars and token
 * heatmaps). Everything here is computed from the measured results; nothing is typed in.
 */
import type { FidelityTaskResult, MethodFidelity } from "./fidelity.js";
import type { EfficiencyTaskResult } from "./efficiency.js";
import { accuracyAt, type Spread } from "./stats.js";
import { PALETTE, barChart, esc, heatmap, lineChart, type Series } from "./svg.js";

export interface BenchResults {
  format: "creditbench-results";
  version: 1;
  command: string;
  started: string;
  seconds: number;
  machine: { cpu: string; cores: number; memoryGB: number; node: string; platform: string; backend: string };
  tasks: string[];
  warmStarts: { task: string; path: string; sftSteps: number; evalAccuracy: number; seconds: number; cached: boolean }[];
  fidelity: FidelityTaskResult[];
  efficiency: EfficiencyTaskResult[];
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(3));
const f2 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(2));
const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : `${(100 * x).toFixed(0)}%`);
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");

function spreadText(s: Spread, fmt: (x: number) => string = f3): string {
  if (s.n === 0) return "n/a";
  return s.n > 1 ? `${fmt(s.mean)} ± ${fmt(s.std)}` : fmt(s.mean);
}

function ratioText(s: Spread): string {
  if (s.n === 0) return "n/a";
  return s.n > 1 ? `${f2(s.mean)} [${f2(s.min)}, ${f2(s.max)}]` : f2(s.mean);
}

function grpoOf(r: FidelityTaskResult): MethodFidelity | undefined {
  return r.methods.find((m) => m.method === "grpo");
}

function fidelityTable(r: FidelityTaskResult): string[] {
  const dec = r.methods.some((m) => m.signAgreement !== null || m.massShare !== null);
  const head = ["method", "Spearman", "Pearson", "Spearman per group (groups)", "Pearson per group", ...(dec ? ["sign agreement on decisive (n)", "credit mass on decisive"] : []), "extra sampled tokens", "note"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const m of r.methods) {
    const cells = [m.method === "grpo" ? "**grpo**" : m.method, f3(m.spearman), f3(m.pearson), `${f3(m.spearmanGroupMean)} (${m.groupsDefined})`, f3(m.pearsonGroupMean),
      ...(dec ? [`${pct(m.signAgreement)} (${m.signN})`, pct(m.massShare)] : []), int(m.extraSampledTokens), m.note];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  if (dec) lines.push(`| oracle A\\* | 1 | 1 | | | | ${pct(r.oracle.massShare)} | | reference |`);
  return lines;
}

function oracleLine(r: FidelityTaskResult): string {
  const a = r.oracle.exactAudit;
  return `${r.responses} responses (${r.config.groups} groups x ${r.config.groupSize}, ${int(r.responseTokens)} tokens, mean reward ${f3(r.rewardMean)}, ${r.mixedGroups} groups with mixed rewards) from the warm start (held-out greedy accuracy ${f3(r.warmStartAccuracy)}). ` +
    `Oracle: K = ${r.oracle.K} continuations at each of ${int(r.oracle.states)} distinct prefixes, ${int(r.oracle.sampledTokens)} tokens; mean 95% CI half-width of A\\* ${f3(r.oracle.meanCi)}; ${pct(r.oracle.significantShare)} of tokens have A\\* significantly non-zero; split-half reliability of A\\* ${f3(r.oracle.reliability)}, so no credit can reach a Pearson above about ${f3(Math.sqrt(Math.max(0, r.oracle.reliability)))} against this oracle. ${r.oracle.exactNote}` +
    (a ? `; exact-value audit: ${a.covered}/${a.n} exact values inside the MC 95% interval, mean |MC - exact| ${f3(a.meanAbsError)}.` : ".") + ` ${r.seconds.toFixed(0)} s.`;
}

function efficiencyTable(r: EfficiencyTaskResult): string[] {
  const fr = r.config.fractions;
  const head = ["method", ...fr.map((f) => `acc @ ${int(f * r.config.budget)} tok`), `ratio to GRPO @ ${int(r.config.budget)}`, `tokens to ${f3(r.threshold)}`, "ratio to GRPO", "runs"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const m of r.methods) {
    const runs = r.runs.filter((x) => x.method === m.method);
    const ok = runs.filter((x) => !x.error).length;
    const last = m.ratioAt[m.ratioAt.length - 1];
    const cells = [m.method === "grpo" ? "**grpo**" : m.method, ...m.accAt.map((s) => spreadText(s)), ratioText(last),
      m.tokensToThreshold.n ? `${spreadText(m.tokensToThreshold, int)}${m.unreached ? ` (${m.unreached} not reached)` : ""}` : (ok ? "not reached" : "n/a"),
      ratioText(m.tokensRatio), `${ok}/${runs.length}${m.errors.length ? ` (failed: ${m.errors[0]})` : ""}`];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines;
}

/** The data-driven verdict: which methods beat GRPO, on what, by how much. */
export function verdict(res: BenchResults): string[] {
  const out: string[] = [];
  if (res.fidelity.length) {
    const methods = [...new Set(res.fidelity.flatMap((r) => r.methods.map((m) => m.method)))].filter((m) => m !== "grpo");
    const rows = methods.map((m) => {
      const deltas = res.fidelity.map((r) => {
        const g = grpoOf(r), x = r.methods.find((y) => y.method === m);
        return g && x && Number.isFinite(g.spearman) && Number.isFinite(x.spearman) ? x.spearman - g.spearman : null;
      }).filter((d): d is number => d !== null);
      // A win: the bootstrap interval of the difference lies above 0 (or, without one, > 0.02).
      const wins = res.fidelity.filter((r) => {
        const g = grpoOf(r), x = r.methods.find((y) => y.method === m);
        if (!g || !x) return false;
        return x.spearmanDiffCi ? x.spearmanDiffCi[0] > 0 : x.spearman - g.spearman > 0.02;
      }).length;
      return { m, deltas, wins };
    });
    const better = rows.filter((r) => r.deltas.length > 0 && r.wins === r.deltas.length);
    out.push(`- Credit fidelity (pooled Spearman with A\\* above GRPO's on every task measured, the 95% bootstrap interval of the difference above 0): ` +
      (better.length ? better.map((r) => `${r.m} (${r.deltas.map((d) => (d >= 0 ? "+" : "") + d.toFixed(3)).join(", ")})`).join("; ") : "none") + ".");
    const partial = rows.filter((r) => r.wins > 0 && r.wins < r.deltas.length);
    if (partial.length) out.push(`- Better than GRPO on some tasks only: ${partial.map((r) => `${r.m} (${r.wins}/${r.deltas.length})`).join(", ")}.`);
  }
  if (res.efficiency.length) {
    const methods = [...new Set(res.efficiency.flatMap((r) => r.methods.map((m) => m.method)))].filter((m) => m !== "grpo");
    const wins: string[] = [];
    for (const m of methods) {
      const per = res.efficiency.map((r) => {
        const x = r.methods.find((y) => y.method === m);
        const s = x?.ratioAt[x.ratioAt.length - 1];
        return s && s.n > 0 ? s : null;
      });
      const all = per.filter((s): s is Spread => s !== null);
      // A win needs every seed above GRPO's accuracy (min ratio > 1) on every task measured.
      if (all.length > 0 && all.every((s) => s.min > 1)) wins.push(`${m} (${all.map((s) => `x${f2(s.mean)}`).join(", ")})`);
    }
    out.push(`- Learning efficiency (held-out accuracy at the full budget above GRPO's on every seed of every task): ${wins.length ? wins.join("; ") : "none"}.`);
  }
  return out;
}

export function renderMarkdown(res: BenchResults): string {
  const L: string[] = [];
  L.push("# creditbench results", "");
  L.push(`Command: \`${res.command}\``, "");
  L.push(`Machine: ${res.machine.cpu}, ${res.machine.cores} cores, ${res.machine.memoryGB} GB; ${res.machine.platform}, Node ${res.machine.node}, tfjs ${res.machine.backend} backend. Started ${res.started}, took ${(res.seconds / 60).toFixed(1)} min.`, "");
  if (res.warmStarts.length) {
    L.push("Warm starts (one per task, shared by every method): " + res.warmStarts.map((w) => `${w.task} SFT ${w.sftSteps} steps, held-out accuracy ${f3(w.evalAccuracy)}${w.cached ? " (cached)" : ` (${w.seconds.toFixed(0)} s)`}`).join("; ") + ".", "");
  }
  if (res.fidelity.length) {
    L.push("## Credit fidelity", "");
    L.push("Each method's credit (advantage x loss weight) against the oracle A\\*(s_t, a_t) = V(s_{t+1}) - V(s_t) over the same sampled groups. Spearman/Pearson pool every token of every group; the per-group columns average over groups where both sides vary. Sign agreement counts decisive tokens whose A\\* is outside its 95% interval of 0; credit mass is sum |credit| on decisive tokens over sum |credit| on all tokens.", "");
    const all = [...new Set(res.fidelity.flatMap((r) => r.methods.map((m) => m.method)))];
    L.push("### Summary: pooled Spearman with A\\* (difference to GRPO [95% bootstrap interval over groups])", "");
    L.push(`| method | ${res.fidelity.map((r) => r.task).join(" | ")} |`, `|---|${res.fidelity.map(() => "---").join("|")}|`);
    for (const m of all) {
      const cells = res.fidelity.map((r) => {
        const x = r.methods.find((y) => y.method === m), g = grpoOf(r);
        if (!x) return "skipped";
        const sg = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(3)}`;
        const ci = x.spearmanDiffCi ? ` [${sg(x.spearmanDiffCi[0])}, ${sg(x.spearmanDiffCi[1])}]` : "";
        const d = g && m !== "grpo" && Number.isFinite(x.spearman) && Number.isFinite(g.spearman) ? ` (${sg(x.spearman - g.spearman)}${ci})` : "";
        return f3(x.spearman) + d;
      });
      L.push(`| ${m === "grpo" ? "**grpo**" : m} | ${cells.join(" | ")} |`);
    }
    L.push("");
    for (const r of res.fidelity) {
      L.push(`### ${r.task}`, "", oracleLine(r), "", ...fidelityTable(r), "");
      if (r.skipped.length) L.push("Skipped: " + r.skipped.map((s) => `${s.method} (${s.reason})`).join("; ") + ".", "");
    }
  }
  if (res.efficiency.length) {
    L.push("## Learning efficiency", "");
    for (const r of res.efficiency) {
      const c = r.config;
      L.push(`### ${r.task}`, "");
      L.push(`Every run starts from the task's warm start (held-out accuracy ${f3(r.warmStartAccuracy)}) and stops once ${int(c.budget)} sampled tokens are spent (all sampled tokens counted, Monte Carlo and tree tokens included); seeds ${c.seeds.join(", ")}; held-out greedy accuracy on ${c.evalN} prompts every ${c.evalEvery} steps, interpolated at the budgets. Accuracy: mean ± std over seeds; ratios to GRPO: mean [min, max] over seeds (paired by seed). Threshold ${f3(r.threshold)} (${r.thresholdRule}). Trainer overrides: \`${JSON.stringify(c.train)}\`. ${(r.seconds / 60).toFixed(1)} min.`, "");
      L.push(...efficiencyTable(r), "");
      if (r.skipped.length) L.push("Not trainable: " + r.skipped.map((x) => `${x.method} (${x.reason})`).join("; ") + ".", "");
    }
  }
  L.push("## Verdict (computed from the tables above)", "", ...verdict(res), "");
  return L.join("\n");
}

/** A small Markdown-table-to-HTML converter for the tables this module writes (no other Markdown). */
function mdToHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split("\n");
  let k = 0;
  const inline = (s: string) => esc(s).replace(/\*\*(.+?)\*\*/g, "<b>$1</b>").replace(/`([^`]+)`/g, "<code>$1</code>").replace(/\\\*/g, "*");
  while (k < lines.length) {
    const l = lines[k];
    if (l.startsWith("|")) {
      const rows: string[][] = [];
      while (k < lines.length && lines[k].startsWith("|")) {
        rows.push(lines[k].slice(1, -1).split(" | ").map((c) => c.trim()));
        k++;
      }
      out.push("<table>", `<tr>${rows[0].map((c) => `<th>${inline(c)}</th>`).join("")}</tr>`);
      for (const r of rows.slice(2)) out.push(`<tr>${r.map((c) => `<td>${inline(c)}</td>`).join("")}</tr>`);
      out.push("</table>");
      continue;
    }
    const h = /^(#+) (.*)$/.exec(l);
    if (h) out.push(`<h${h[1].length}>${inline(h[2])}</h${h[1].length}>`);
    else if (l.startsWith("- ")) out.push(`<p class="li">• ${inline(l.slice(2))}</p>`);
    else if (l.trim()) out.push(`<p>${inline(l)}</p>`);
    k++;
  }
  return out.join("\n");
}

function learningCurves(r: EfficiencyTaskResult): string {
  const grid = Array.from({ length: 21 }, (_, k) => (k / 20) * r.config.budget);
  const methods = r.methods.map((m) => m.method);
  const series: Series[] = [];
  methods.forEach((m, i) => {
    const runs = r.runs.filter((x) => x.method === m && !x.error);
    if (!runs.length) return;
    const ys: number[] = [], lo: number[] = [], hi: number[] = [], xs: number[] = [];
    for (const x of grid) {
      const v = runs.map((run) => accuracyAt(run.curve, x)).filter((a): a is number => a !== null);
      if (v.length === 0) continue;
      xs.push(x);
      ys.push(v.reduce((s, a) => s + a, 0) / v.length);
      lo.push(Math.min(...v));
      hi.push(Math.max(...v));
    }
    series.push({ label: m, color: m === "grpo" ? "#000000" : PALETTE[i % PALETTE.length], xs, ys, lo, hi, bold: m === "grpo" });
  });
  return lineChart(`${r.task}: held-out accuracy vs sampled tokens (mean over seeds, band = min..max)`, series, "sampled tokens (all counted)", "held-out accuracy");
}

function fidelityCharts(r: FidelityTaskResult): string {
  const bars = (pick: (m: MethodFidelity) => number | null) => r.methods.map((m) => ({ label: m.method, value: pick(m), highlight: m.method === "grpo" }));
  const parts = [
    barChart(`${r.task}: Spearman(credit, A*) pooled over tokens`, bars((m) => m.spearman), { min: -0.2, max: 0.5 }),
    barChart(`${r.task}: Pearson(credit, A*) pooled over tokens`, bars((m) => m.pearson), { min: -0.2, max: 0.5 }),
  ];
  if (r.methods.some((m) => m.massShare !== null)) {
    parts.push(barChart(`${r.task}: share of |credit| on decisive tokens (oracle ${pct(r.oracle.massShare)})`, [{ label: "oracle A*", value: r.oracle.massShare, highlight: false }, ...bars((m) => m.massShare)], { min: 0, max: 1 }));
    parts.push(barChart(`${r.task}: sign agreement on decisive tokens`, bars((m) => m.signAgreement), { min: 0, max: 1 }));
  }
  return `<div class="charts">${parts.join("\n")}</div>`;
}

function heatmaps(r: FidelityTaskResult): string {
  return r.heatmaps.map((h, k) => {
    const rows = [{ label: "oracle A*", values: h.oracle }, ...Object.entries(h.credit).map(([m, v]) => ({ label: m, values: v }))];
    return heatmap(`${r.task} response ${k + 1} (reward ${h.reward}); each row scaled to its own max |credit|; red +, blue -`, h.tokens, rows, h.decisive);
  }).join("\n");
}

export function renderHtml(res: BenchResults): string {
  const md = renderMarkdown(res);
  const body: string[] = [];
  // Plots first per part, then the same tables as the Markdown report.
  for (const r of res.efficiency) body.push(`<h2>Learning curves: ${esc(r.task)}</h2>`, learningCurves(r));
  for (const r of res.fidelity) body.push(`<h2>Credit fidelity: ${esc(r.task)}</h2>`, fidelityCharts(r), `<h3>Token heatmaps: ${esc(r.task)}</h3>`, `<div class="heat">${heatmaps(r)}</div>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>creditbench report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; max-width: 1400px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
th { background: #f3f3f3; }
.charts svg { margin: 4px 12px 4px 0; vertical-align: top; }
.heat { overflow-x: auto; }
.heat svg { display: block; margin: 6px 0; }
code { background: #f3f3f3; padding: 1px 3px; }
p.li { margin: 2px 0 2px 12px; }
</style></head><body>
<h1>creditbench report</h1>
${body.join("\n")}
<hr>
${mdToHtml(md)}
</body></html>
`;
}
