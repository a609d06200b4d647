/**
 * Worker-thread side of the sampling pool: holds its own tf backend and a copy of the sampler
 * weights, and samples the rows it is sent with the row generators it is sent, so a split
 * batch gives exactly the single-thread result.
 */
import { parentPort } from "node:worker_threads";
import { useBackend } from "./tf.js";
import { Rng } from "../rng.js";
import { disposeSamplerWeights, sampleRows, samplerWeights, type SampleRequest, type SamplerWeights } from "./sampler.js";
import type { ModelConfig, PolicyBackend } from "./model.js";

export type WorkerRequest =
  | { kind: "weights"; config: ModelConfig; weights: [string, Float32Array][]; backend: PolicyBackend }
  | { kind: "sample"; requests: SampleRequest[]; temperature: number; topP: number; eos: number; rngs: number[][] };

let sw: SamplerWeights | null = null;
const ready = useBackend("wasm");

parentPort?.on("message", (msg: WorkerRequest) => {
  void (async () => {
    try {
      await ready;
      if (msg.kind === "weights") {
        if (sw) disposeSamplerWeights(sw);
        sw = samplerWeights(msg.config, new Map(msg.weights), msg.backend);
        parentPort?.postMessage({ ok: true });
      } else {
        if (!sw) throw new Error("worker has no weights");
        const res = sampleRows(sw, msg.requests, { temperature: msg.temperature, topP: msg.topP, eos: msg.eos }, msg.rngs.map((s) => new Rng(s)));
        parentPort?.postMessage({ ok: true, results: res });
      }
    } catch (e) {
      parentPort?.postMessage({ ok: false, error: (e as Error).stack ?? String(e) });
    }
  })();
});
