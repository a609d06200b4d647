/**
 * A pool of sampling workers (worker_threads), one per extra core. The batch's row
 * generators are forked in the parent in row order and the rows split into contiguous slices,
 * so the pool returns exactly what single-threaded `sample` returns. (Adaptive temperature
 * is a closure and stays single-threaded.)
 */
import { Worker } from "node:worker_threads";
import { defaultPolicyBackend, type ModelConfig, type PolicyBackend } from "./model.js";
import type { Rng } from "../rng.js";
import type { SampleOptions, SampleRequest, SampleResult } from "./sampler.js";
import type { WorkerRequest } from "./worker.js";

interface Reply {
  ok: boolean;
  error?: string;
  results?: SampleResult[];
}

export class SamplerPool {
  private workers: Worker[];

  constructor(readonly size: number) {
    this.workers = Array.from({ length: size }, () => new Worker(new URL("./worker.js", import.meta.url)));
  }

  private call(w: Worker, msg: WorkerRequest): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const onMsg = (r: Reply) => {
        w.off("error", onErr);
        if (r.ok) resolve(r);
        else reject(new Error(`sampling worker: ${r.error}`));
      };
      const onErr = (e: Error) => {
        w.off("message", onMsg);
        reject(e);
      };
      w.once("message", onMsg);
      w.once("error", onErr);
      w.postMessage(msg);
    });
  }

  /** Sends the weights to every worker; they sample on `backend` (default: the policies' default, so native unless set otherwise). */
  async setWeights(config: ModelConfig, weights: Map<string, Float32Array>, backend: PolicyBackend = defaultPolicyBackend()): Promise<void> {
    const list = [...weights];
    await Promise.all(this.workers.map((w) => this.call(w, { kind: "weights", config, weights: list, backend })));
  }

  async sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]> {
    if (opts.adaptiveTemperature) throw new Error("SamplerPool: adaptive temperature is not supported in workers");
    const rngs = requests.map(() => rng.fork().state);
    const n = requests.length, k = this.workers.length;
    const parts = await Promise.all(this.workers.map((w, j) => {
      const a = Math.floor((j * n) / k), b = Math.floor(((j + 1) * n) / k);
      return this.call(w, { kind: "sample", requests: requests.slice(a, b), temperature: opts.temperature, topP: opts.topP, eos: opts.eos, rngs: rngs.slice(a, b) });
    }));
    return parts.flatMap((p) => p.results ?? []);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
