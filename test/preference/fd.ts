/** Central finite differences against an analytic gradient, for the preference losses. */
import { assertClose } from "../helpers.js";

/** Numerical d f / d x by central differences (x is restored after each probe). */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const x0 = x[k];
    x[k] = x0 + eps;
    const up = f(x);
    x[k] = x0 - eps;
    const down = f(x);
    x[k] = x0;
    g[k] = (up - down) / (2 * eps);
  }
  return g;
}

/** Asserts the analytic gradient matches central differences of f at x. */
export function checkGrad(what: string, f: (x: Float64Array) => number, x: Float64Array, analytic: ArrayLike<number>, tol = 1e-7): void {
  assertClose(analytic, numericGrad(f, x), tol, 1e-5, `${what} gradient`);
}

export const f64 = (xs: readonly number[]): Float64Array => Float64Array.from(xs);
export const logs = (ps: readonly number[]): Float64Array => Float64Array.from(ps, Math.log);
