/**
 * Drawing one token from a next-token distribution given as log-probs (or logits) over the whole
 * vocabulary, with the built-in sampler's exact rules, so a backend that hands us the full
 * distribution (llama.cpp) samples the same token as the tfjs sampler for the same uniform draw:
 * temperature T scales the log-probs (T <= 0 is greedy and draws nothing); top-p keeps the most
 * probable tokens (ties by id) until their mass reaches p and renormalises; the reported log-prob
 * and entropy are those of the tempered distribution before truncation.
 */
export interface Draw {
  token: number;
  logprob: number;
  entropy: number;
}

/** Scratch space reused across draws (one per backend; V = vocabulary size). */
export class DrawScratch {
  readonly prob: Float64Array;
  readonly order: number[];
  constructor(readonly V: number) {
    this.prob = new Float64Array(V);
    this.order = Array.from({ length: V }, (_, v) => v);
  }
}

/** Fills s.prob with softmax(z / T); returns its log-normaliser and entropy. */
export function tempered(z: ArrayLike<number>, T: number, s: DrawScratch): { lse: number; entropy: number } {
  const V = s.V, p = s.prob;
  let mx = -Infinity;
  for (let v = 0; v < V; v++) if (z[v] / T > mx) mx = z[v] / T;
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp(z[v] / T - mx);
    p[v] = e;
    sum += e;
  }
  const lse = mx + Math.log(sum);
  let h = 0;
  for (let v = 0; v < V; v++) {
    p[v] /= sum;
    if (p[v] > 0) h -= p[v] * (z[v] / T - lse);
  }
  return { lse, entropy: h };
}

/**
 * One token from log-probs `z` (any additive constant) at temperature T and nucleus topP.
 * `uniform` is called once when T > 0.
 */
export function drawToken(z: ArrayLike<number>, T: number, topP: number, uniform: () => number, s: DrawScratch): Draw {
  const V = s.V, p = s.prob;
  if (T <= 0) {
    const st = tempered(z, 1, s);
    let tok = 0;
    for (let v = 1; v < V; v++) if (z[v] > z[tok]) tok = v;
    return { token: tok, logprob: z[tok] - st.lse, entropy: st.entropy };
  }
  const st = tempered(z, T, s);
  const u = uniform();
  let tok = V - 1;
  if (topP < 1) {
    const order = s.order;
    order.sort((i, j) => p[j] - p[i] || i - j);
    let mass = 0, keep = 0;
    while (keep < V && mass < topP) mass += p[order[keep++]];
    let acc = 0;
    tok = order[keep - 1];
    for (let k = 0; k < keep; k++) {
      acc += p[order[k]] / mass;
      if (u < acc) {
        tok = order[k];
        break;
      }
    }
  } else {
    let acc = 0;
    for (let v = 0; v < V; v++) {
      acc += p[v];
      if (u < acc) {
        tok = v;
        break;
      }
    }
  }
  return { token: tok, logprob: z[tok] / T - st.lse, entropy: st.entropy };
}

/** log pi_T(token) from log-probs or logits z over the vocabulary (T <= 0, greedy: T = 1). */
export function temperedLogprob(z: ArrayLike<number>, token: number, T: number, s: DrawScratch): number {
  if (T <= 0) T = 1;
  return z[token] / T - tempered(z, T, s).lse;
}
