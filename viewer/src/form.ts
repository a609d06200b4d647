/**
 * A method's options as a form, generated from its schema (src/core/schema.ts): numbers as
 * number inputs (empty = null where the option is nullable), booleans as checkboxes, enums as
 * selects, JSON options as a text field. Values are validated by the core's resolveOptions, the
 * same check `creditflow assign --config` applies; its message is shown under the form.
 */
import { listMethods, getMethod, resolveOptions, typeText, type OptionSpec } from "../../src/index.js";
import { h } from "./dom.js";

export interface MethodChoice {
  method: string;
  options: Record<string, unknown>;
}

function input(key: string, spec: OptionSpec, value: unknown, id: string): HTMLElement {
  switch (spec.type) {
    case "number": {
      const el = h("input", { id, type: "number", step: spec.integer ? 1 : "any", min: spec.min, max: spec.max, "data-key": key });
      el.value = value === null || value === undefined ? "" : String(value);
      if (spec.nullable) el.placeholder = "null";
      return el;
    }
    case "boolean": {
      const el = h("input", { id, type: "checkbox", "data-key": key });
      el.checked = value === true;
      return el;
    }
    case "enum": {
      const el = h("select", { id, "data-key": key }, ...spec.values.map((v) => h("option", { value: v, text: v })));
      el.value = String(value);
      return el;
    }
    case "json": {
      const el = h("input", { id, type: "text", "data-key": key, spellcheck: "false" });
      el.value = JSON.stringify(value);
      return el;
    }
  }
}

/** Reads the form back into raw option values (before validation). */
function read(form: HTMLElement, schema: Record<string, OptionSpec>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const el = form.querySelector(`[data-key="${CSS.escape(key)}"]`) as HTMLInputElement | HTMLSelectElement | null;
    if (!el) continue;
    if (spec.type === "number") raw[key] = el.value.trim() === "" ? (spec.nullable ? null : NaN) : Number(el.value);
    else if (spec.type === "boolean") raw[key] = (el as HTMLInputElement).checked;
    else if (spec.type === "enum") raw[key] = el.value;
    else {
      try {
        raw[key] = JSON.parse(el.value);
      } catch {
        throw new Error(`option '${key}': not JSON`);
      }
    }
  }
  return raw;
}

let formIds = 0;

/**
 * A fieldset choosing a method and its options; `onChange` receives validated choices only.
 * `extra` lists non-method sources (advantage files) offered in the same select as "file:NAME".
 */
export function methodForm(initial: MethodChoice | { file: string }, files: string[], onChange: (c: MethodChoice | { file: string }) => void, onRemove: (() => void) | null): HTMLElement {
  const n = ++formIds;
  const select = h(
    "select",
    { id: `m${n}`, class: "method-select", "aria-label": "method" },
    ...files.map((f) => h("option", { value: `file:${f}`, text: `file: ${f}` })),
    ...listMethods().map((m) => h("option", { value: m.name, text: m.name })),
  );
  select.value = "file" in initial ? `file:${initial.file}` : initial.method;
  const fields = h("div", { class: "fields" });
  const error = h("p", { class: "form-error", role: "alert" });
  const summary = h("p", { class: "summary" });
  const fieldset = h("fieldset", { class: "method-form" }, h("legend", {}, h("label", { for: `m${n}`, text: "credit from " }), select));
  if (onRemove) {
    const rm = h("button", { type: "button", class: "remove", "aria-label": "remove this column", text: "\u00d7" });
    rm.addEventListener("click", onRemove);
    fieldset.append(rm);
  }
  fieldset.append(summary, fields, error);

  const build = (options: Record<string, unknown>) => {
    fields.replaceChildren();
    error.textContent = "";
    if (select.value.startsWith("file:")) {
      summary.textContent = "advantages (and weights) read from the file";
      return;
    }
    const spec = getMethod(select.value);
    summary.textContent = spec.summary;
    summary.title = `${spec.summary} (${spec.paper})`;
    const schema = spec.options as Record<string, OptionSpec>;
    const resolved = resolveOptions(spec.name, spec.options, {}) as Record<string, unknown>;
    for (const [key, o] of Object.entries(schema)) {
      const id = `m${n}-${key}`;
      const value = key in options ? options[key] : resolved[key];
      fields.append(h("div", { class: "field", title: o.doc }, h("label", { for: id, text: key }), input(key, o, value, id), h("span", { class: "type", text: typeText(o) })));
    }
  };
  const emit = () => {
    error.textContent = "";
    if (select.value.startsWith("file:")) return onChange({ file: select.value.slice(5) });
    const spec = getMethod(select.value);
    try {
      const raw = read(fields, spec.options as Record<string, OptionSpec>);
      resolveOptions(spec.name, spec.options, raw);
      onChange({ method: spec.name, options: raw });
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  };
  build("file" in initial ? {} : initial.options);
  select.addEventListener("change", () => {
    build({});
    emit();
  });
  fields.addEventListener("change", emit);
  return fieldset;
}
