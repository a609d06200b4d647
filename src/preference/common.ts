/**
 * Shared maths of the preference and distillation family: stable sigmoids, sequence sums,
 * row-wise log-softmax and KL over a vocabulary, and the masked-mean NLL of supervised methods.
 * Every loss in src/preference is a pure function over flat typed arrays (a [T*V] logits
 * array holds position t's vocabulary row at [t*V, (t+1)*V)) that returns its value and its
 * analytic gradient with respect to the policy's inputs; nothing here imports Node.
 */

/** Value and gradients of a pairwise loss with respect to the policy's per-token inputs. */
export interface PairLoss {
  loss: number;
  /** d loss / d (policy input) on the chosen response: [T_w] log-probs or [T_w*V] logits. */
  chosen: Float64Array;
  /** The same on the rejected response. */
  rejected: Float64Array;
}

/** A loss over one sequence and its gradient with respect to the policy's per-token inputs. */
export interface SeqLoss {
  loss: number;
  grad: Float64Array;
}

/** Per-token log-probs of the sampled tokens of one response under the policy and the reference. */
export interface SeqLogps {
  policy: Float64Array;
  ref: Float64Array;
}

/** Throws a RangeError naming `what` when any entry is not finite (NaN and infinities never pass silently). */
export function assertFinite(what: string, xs: ArrayLike<number>): void {
  for (let k = 0; k < xs.length; k++) {
    if (!Number.isFinite(xs[k])) throw new RangeError(`${what}[${k}] is not a finite number (${xs[k]})`);
  }
}

/** Throws a RangeError unless the arrays have equal length. */
export function assertSameLength(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`${what}: lengths differ (${a.length} vs ${b.length})`);
}

/** Logistic sigmoid, without overflow for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log sigmoid(x), accurate for large |x| (log1p of a small exponential). */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** Sum of xs (optionally weighted: sum_t w_t x_t). */
export function seqSum(xs: ArrayLike<number>, weights?: ArrayLike<number>): number {
  let s = 0;
  if (weights === undefined) for (let t = 0; t < xs.length; t++) s += xs[t];
  else for (let t = 0; t < xs.length; t++) s += weights[t] * xs[t];
  return s;
}

/** Sequence log-ratio sum_t (lp_policy - lp_ref). */
export function logRatio(seq: SeqLogps): number {
  assertSameLength("policy and reference log-probs", seq.policy, seq.ref);
  return seqSum(seq.policy) - seqSum(seq.ref);
}

/** Number of vocabulary rows in a [T*V] array, checking the shape. */
export function rowsOf(what: string, logits: Float64Array, V: number): number {
  if (!(Number.isInteger(V) && V > 0) || logits.length % V !== 0) {
    throw new RangeError(`${what}: length ${logits.length} is not a multiple of the vocabulary size ${V}`);
  }
  return logits.length / V;
}

/**
 * Row-wise log_softmax(z / temperature) of a [T*V] logits array into `out` (allocated when
 * absent). Max-shifted, so large logits do not overflow.
 */
export function logSoftmaxRows(z: Float64Array, V: number, temperature = 1, out = new Float64Array(z.length)): Float64Array {
  const T = rowsOf("logits", z, V);
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, z[o + v] / temperature);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z[o + v] / temperature - max);
    const lse = max + Math.log(s);
    for (let v = 0; v < V; v++) out[o + v] = z[o + v] / temperature - lse;
  }
  return out;
}

/**
 * KL(p || q) = sum_v p_v (log p_v - log q_v) of row t of two [T*V] log-prob arrays. A term with
 * p_v = 0 contributes 0 (the limit), so an underflowed probability never makes 0 * -inf = NaN
 * (TDPO's reference code has that NaN; methods.md Part 3 section 1 asks for the guard).
 */
export function klRow(lpP: Float64Array, lpQ: Float64Array, t: number, V: number): number {
  const o = t * V;
  let kl = 0;
  for (let v = 0; v < V; v++) {
    const p = Math.exp(lpP[o + v]);
    if (p === 0) continue;
    kl += p * (lpP[o + v] - lpQ[o + v]);
  }
  return kl;
}

/**
 * Gradient of KL(softmax(z) || q) with respect to z, row t, added into `grad` scaled by `scale`:
 * d/dz_v = p_v (lp_v - lq_v - KL). `kl` is the row's KL (from klRow).
 */
export function addReverseKlGrad(lp: Float64Array, lq: Float64Array, t: number, V: number, kl: number, scale: number, grad: Float64Array): void {
  const o = t * V;
  for (let v = 0; v < V; v++) {
    const p = Math.exp(lp[o + v]);
    if (p === 0) continue;
    grad[o + v] += scale * p * (lp[o + v] - lq[o + v] - kl);
  }
}

/**
 * Token-mean negative log-likelihood over the kept tokens, -(1/k) sum_{keep} lp_t, and its gradient
 * -1/k on kept tokens (0 elsewhere). No kept token gives loss 0 and a zero gradient. The SFT loss
 * of InT, ssToken (over its selected tokens) and RMT's NTP term.
 */
export function maskedMeanNll(lp: Float64Array, keep: ArrayLike<number> | null = null): SeqLoss {
  assertFinite("log-probs", lp);
  if (keep !== null) assertSameLength("log-probs and token mask", lp, keep);
  let k = 0;
  let s = 0;
  for (let t = 0; t < lp.length; t++) {
    if (keep !== null && !keep[t]) continue;
    k++;
    s += lp[t];
  }
  const grad = new Float64Array(lp.length);
  if (k === 0) return { loss: 0, grad };
  for (let t = 0; t < lp.length; t++) if (keep === null || keep[t]) grad[t] = -1 / k;
  return { loss: -s / k, grad };
}

/**
 * `count` i.i.d. draws from softmax(logits) (temperature 1, with replacement) by inverse CDF;
 * `uniform` gives numbers in [0, 1). InTRO's candidate alternatives and RMT's one-token rollouts.
 */
export function drawCategorical(logits: ArrayLike<number>, count: number, uniform: () => number): Int32Array {
  const V = logits.length;
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[v]);
  const cdf = new Float64Array(V);
  let s = 0;
  for (let v = 0; v < V; v++) cdf[v] = s += Math.exp(logits[v] - max);
  const out = new Int32Array(Math.max(0, count));
  for (let i = 0; i < out.length; i++) {
    const u = uniform() * s;
    let v = 0;
    while (v < V - 1 && cdf[v] <= u) v++;
    out[i] = v;
  }
  return out;
}
