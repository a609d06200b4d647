/**
 * Line charts with uPlot: several series with their own x values, joined on one x axis
 * (uPlot.join), coloured from one palette, axes in the scheme's colours.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom.js";

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

export interface Series {
  label: string;
  x: number[];
  y: number[];
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], width = 900, height = 340): HTMLElement {
  const el = h("div", { class: "chart", "data-series": String(series.length), "aria-label": `${title}: ${series.map((s) => s.label).join(", ")}`, role: "img" });
  if (series.length === 0) {
    el.append(h("p", { class: "note", text: "nothing to plot" }));
    return el;
  }
  const style = getComputedStyle(document.documentElement);
  const fg = style.getPropertyValue("--fg").trim() || "#000";
  const grid = style.getPropertyValue("--grid").trim() || "#ddd";
  const tables = series.map((s) => {
    // uPlot needs x ascending; metrics files are, but sort to be safe.
    const order = s.x.map((_, k) => k).sort((a, b) => s.x[a] - s.x[b]);
    return [order.map((k) => s.x[k]), order.map((k) => s.y[k])] as uPlot.AlignedData;
  });
  const data = uPlot.join(tables);
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const opts: uPlot.Options = {
    title,
    width,
    height,
    scales: { x: { time: false } },
    axes: [{ ...axis, label: xLabel }, { ...axis, label: yLabel }],
    series: [{ label: xLabel }, ...series.map((s, k) => ({ label: s.label, stroke: PALETTE[k % PALETTE.length], width: 2, spanGaps: true, points: { show: false } }))],
  };
  new uPlot(opts, data, el);
  return el;
}
