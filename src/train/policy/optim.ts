/**
 * Adam(W) with global-norm gradient clipping and a warmup + cosine/constant learning-rate
 * schedule. The moments live in tf variables and are exported/imported as host arrays, so a
 * checkpoint restores the optimizer exactly.
 */
import { tf } from "./tf.js";

export interface OptimConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = off). */
  gradClip: number;
  warmupSteps: number;
  schedule: "constant" | "cosine";
  /** Cosine floor as a fraction of lr. */
  minLrRatio: number;
}

export const DEFAULT_OPTIM: OptimConfig = {
  lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1, warmupSteps: 0, schedule: "constant", minLrRatio: 0.1,
};

/** Learning rate at optimizer update `t` (0-based) of `total`. */
export function lrAt(c: OptimConfig, t: number, total: number): number {
  if (c.warmupSteps > 0 && t < c.warmupSteps) return (c.lr * (t + 1)) / c.warmupSteps;
  if (c.schedule === "constant") return c.lr;
  const span = Math.max(1, total - c.warmupSteps);
  const p = Math.min(1, (t - c.warmupSteps) / span);
  return c.lr * (c.minLrRatio + (1 - c.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * p)));
}

export interface AdamState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class Adam {
  t = 0;
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();

  constructor(readonly config: OptimConfig, private readonly params: Map<string, tf.Variable>) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * Applies one update with learning rate `lr`. `grads` is keyed by parameter name. Returns the
   * global gradient norm before clipping.
   */
  step(grads: Map<string, tf.Tensor>, lr: number): number {
    const c = this.config;
    const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
    const norm = Math.sqrt(sq.dataSync()[0]);
    sq.dispose();
    const scale = c.gradClip > 0 && norm > c.gradClip ? c.gradClip / (norm + 1e-6) : 1;
    this.t++;
    const bc1 = 1 - Math.pow(c.beta1, this.t);
    const bc2 = 1 - Math.pow(c.beta2, this.t);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g0 = grads.get(name);
        if (!g0) continue;
        const g = scale === 1 ? g0 : tf.mul(g0, scale);
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        m.assign(tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1)));
        v.assign(tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2)));
        let upd = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), c.eps));
        // Decoupled weight decay (AdamW) on matrices only; norms' gains are left alone.
        if (c.weightDecay > 0 && p.shape.length > 1) upd = tf.add(upd, tf.mul(p, c.weightDecay));
        p.assign(tf.sub(p, tf.mul(upd, lr)));
      }
    });
    return norm;
  }

  state(): AdamState {
    const grab = (src: Map<string, tf.Variable>) => {
      const out = new Map<string, Float32Array>();
      for (const [k, v] of src) out.set(k, Float32Array.from(v.dataSync() as Float32Array));
      return out;
    };
    return { t: this.t, m: grab(this.m), v: grab(this.v) };
  }

  load(s: AdamState): void {
    this.t = s.t;
    for (const [src, dst] of [[s.m, this.m], [s.v, this.v]] as const) {
      for (const [k, v] of dst) {
        const arr = src.get(k);
        if (!arr) throw new Error(`optimizer state lacks '${k}'`);
        v.assign(tf.tensor(arr, v.shape));
      }
    }
  }

  dispose(): void {
    for (const v of [...this.m.values(), ...this.v.values()]) v.dispose();
  }
}
