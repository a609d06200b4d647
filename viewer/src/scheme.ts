/**
 * Light and dark schemes: the system's (prefers-color-scheme) unless the toggle picks one; the
 * choice is kept in localStorage and set as data-scheme on <html>, which the CSS reads.
 */
type Choice = "auto" | "light" | "dark";
const KEY = "creditflow-view-scheme";
const listeners: (() => void)[] = [];
let choice: Choice = "auto";

export function isDark(): boolean {
  if (choice !== "auto") return choice === "dark";
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

export function onSchemeChange(f: () => void): void {
  listeners.push(f);
}

function apply(button: HTMLButtonElement): void {
  document.documentElement.dataset.scheme = isDark() ? "dark" : "light";
  button.textContent = `scheme: ${choice}`;
  button.setAttribute("aria-label", `Colour scheme: ${choice} (now ${isDark() ? "dark" : "light"}); press to change`);
  for (const f of listeners) f();
}

export function initScheme(button: HTMLButtonElement): void {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved === "light" || saved === "dark" || saved === "auto") choice = saved;
  } catch {
    // Storage can be unavailable on file:// pages; the default stands.
  }
  button.addEventListener("click", () => {
    choice = choice === "auto" ? "light" : choice === "light" ? "dark" : "auto";
    try {
      localStorage.setItem(KEY, choice);
    } catch {
      // As above.
    }
    apply(button);
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => apply(button));
  document.documentElement.dataset.scheme = isDark() ? "dark" : "light";
  button.textContent = `scheme: ${choice}`;
}
