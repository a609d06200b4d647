/**
 * The built-in policy exported to GGUF and run by llama.cpp (node-llama-cpp): llama.cpp's
 * per-token log-probs equal the tfjs policy's to 1e-4 on the same sequences; llama.cpp sampling
 * draws the same tokens as the tfjs sampler for the same seed; continuation and scoring agree.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { DEFAULT_MODEL, initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { Rng } from "../../src/train/rng.js";
import { VOCAB, EOS } from "../../src/tasks/vocab.js";
import { BuiltinBackend } from "../../src/rollout/builtin.js";
import { GgufBackend } from "../../src/rollout/gguf.js";
import { policyVocab } from "../../src/rollout/open.js";
import { assertClose } from "../helpers.js";

const config: ModelConfig = { ...DEFAULT_MODEL, vocabSize: VOCAB.size, maxSeqLen: 32 };

/** Random weights scaled up so next-token distributions are far from uniform (a harder parity case). */
function peakedWeights(seed: number): Map<string, Float32Array> {
  const w = initialWeights(config, seed);
  for (const [name, a] of w) if (!name.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 8;
  return w;
}

let tfjs: BuiltinBackend;
let cpp: GgufBackend;
const weights = peakedWeights(5);

test.before(async () => {
  await useBackend("wasm");
  tfjs = new BuiltinBackend(config, weights);
  cpp = await GgufBackend.fromPolicy(config, weights, policyVocab(VOCAB), { sequences: 16 });
});
test.after(async () => {
  await tfjs.close();
  await cpp.close();
});

const prompts = ["12+34=", "7+8=", "99+1="].map((t) => [VOCAB.bos, ...VOCAB.encode(t)]);

test("the GGUF carries the task vocabulary: llama.cpp tokenizes text to the task's ids", () => {
  for (const t of ["12+34=", "a b;c", "9*9=81"]) assert.deepEqual(cpp.tokenize(t), VOCAB.encode(t));
  assert.equal(cpp.eos, EOS);
  assert.equal(cpp.maxSeqLen >= config.maxSeqLen, true);
});

test("per-token log-probs: llama.cpp equals tfjs to 1e-4 at temperature 1 and 0.7", async () => {
  const rng = new Rng(1);
  const reqs = prompts.map((p, k) => ({ prefix: p, tokens: Array.from({ length: 12 + k }, () => 3 + rng.int(VOCAB.size - 3)) }));
  for (const T of [1, 0.7]) {
    const a = await cpp.score(reqs, T);
    const b = await tfjs.score(reqs, T);
    reqs.forEach((q, k) => {
      assert.equal(a[k].length, q.tokens.length);
      assertClose(a[k], b[k], 1e-4, 0, `T=${T} row ${k}`);
    });
    // not a vacuous match: the scored tokens are mostly unlikely ones
    assert.ok(Math.min(...b.flatMap((x) => [...x])) < -3);
  }
});

test("16 rows scored in one batch: every log-prob equals tfjs (llama.cpp reorders batch outputs lazily; reads must not race)", async () => {
  // Before the backend serialized node-llama-cpp's logit reads, this case gave ~20% wrong
  // log-probs with libuv's default 4 threads: two worker threads reordered the shared logits.
  const rng = new Rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const reqs = Array.from({ length: 16 }, () => ({
      prefix: [VOCAB.bos, 3 + rng.int(VOCAB.size - 3)],
      tokens: Array.from({ length: 5 + rng.int(20) }, () => 3 + rng.int(VOCAB.size - 3)),
    }));
    const [a, b] = [await cpp.score(reqs, 1), await tfjs.score(reqs, 1)];
    reqs.forEach((_, k) => assertClose(a[k], b[k], 1e-4, 0, `trial ${trial} row ${k}`));
  }
});

test("sampling: same seed, same tokens as the tfjs sampler; log-probs and entropies within 1e-4", async () => {
  const reqs = prompts.flatMap((p) => Array.from({ length: 6 }, () => ({ prefix: p, maxNew: 12 })));
  for (const opts of [{ temperature: 1, topP: 1, eos: EOS }, { temperature: 0.8, topP: 0.9, eos: EOS }]) {
    const before = cpp.sampledTokens;
    const a = await cpp.sample(reqs, opts, new Rng(42));
    const b = await tfjs.sample(reqs, opts, new Rng(42));
    assert.equal(a.length, reqs.length);
    a.forEach((r, k) => {
      assert.deepEqual(r.tokens, b[k].tokens, `row ${k}`);
      assert.equal(r.finished, b[k].finished);
      assertClose(r.logprobs, b[k].logprobs, 1e-4, 0, `logprobs row ${k}`);
      assertClose(r.entropies, b[k].entropies, 1e-4, 0, `entropies row ${k}`);
      assert.ok(r.tokens.length >= 1 && r.tokens.length <= 12);
    });
    assert.equal(cpp.sampledTokens - before, a.reduce((s, r) => s + r.tokens.length, 0));
    // different rows of one prompt are different samples
    assert.ok(new Set(a.map((r) => r.tokens.join(","))).size > 3);
    // the sampled log-prob is the tempered log-prob of the token (score at the sampling temperature; llama.cpp batches
    // differently when scoring, hence 2e-5), top-p 1 only
    if (opts.topP === 1) {
      const scored = await cpp.score(reqs.map((q, k) => ({ prefix: q.prefix, tokens: a[k].tokens })), opts.temperature);
      a.forEach((r, k) => assertClose(scored[k], r.logprobs, 2e-5, 0, `score vs sample row ${k}`));
    }
  }
});

test("continuation from a token prefix, and greedy decoding", async () => {
  const first = await cpp.sample([{ prefix: prompts[0], maxNew: 6 }], { temperature: 0, topP: 1, eos: EOS }, new Rng(0));
  const again = await cpp.sample([{ prefix: [...prompts[0], ...first[0].tokens.slice(0, 3)], maxNew: 3 }], { temperature: 0, topP: 1, eos: EOS }, new Rng(9));
  // greedy: continuing from the first 3 tokens regenerates the rest
  if (!first[0].finished || first[0].tokens.length > 3) assert.deepEqual(again[0].tokens, first[0].tokens.slice(3, 6));
  assertClose(again[0].logprobs, first[0].logprobs.slice(3, 6), 1e-6, 0, "greedy log-probs");
  const ref = await tfjs.sample([{ prefix: prompts[0], maxNew: 6 }], { temperature: 0, topP: 1, eos: EOS }, new Rng(0));
  assert.deepEqual(first[0].tokens, ref[0].tokens);
});

test("a prefix longer than the model or a token outside the vocabulary is refused", async () => {
  await assert.rejects(cpp.sample([{ prefix: [1, 99], maxNew: 2 }], { temperature: 1, topP: 1, eos: EOS }, new Rng(0)), /outside the vocabulary/);
  await assert.rejects(cpp.score([{ prefix: new Array(cpp.maxSeqLen + 1).fill(3), tokens: [] }]), /more than/);
});

test("native mode: llama.cpp's chain draws; the sampled log-prob is the tempered log-prob (tfjs scoring, 1e-4); seeded; top-p < 1 falls back to exact", async () => {
  const native = await GgufBackend.fromPolicy(config, weights, policyVocab(VOCAB), { sequences: 16, sequencesPerContext: 8, mode: "native" });
  try {
    assert.equal(native.capabilities.entropies, false);
    const reqs = prompts.flatMap((p) => Array.from({ length: 8 }, () => ({ prefix: p, maxNew: 12 })));
    for (const T of [1, 0.7, 0]) {
      const opts = { temperature: T, topP: 1, eos: EOS };
      const a = await native.sample(reqs, opts, new Rng(3));
      const again = await native.sample(reqs, opts, new Rng(3));
      assert.deepEqual(again.map((r) => r.tokens), a.map((r) => r.tokens), `T=${T}: same generator, same tokens`);
      const scored = await tfjs.score(reqs.map((q, k) => ({ prefix: q.prefix, tokens: a[k].tokens })), T);
      a.forEach((r, k) => {
        assert.deepEqual(r.entropies, []);
        assert.ok(r.tokens.length >= 1 && r.tokens.length <= 12);
        assert.equal(r.finished, r.tokens[r.tokens.length - 1] === EOS);
        assertClose(r.logprobs, scored[k], 1e-4, 0, `T=${T} row ${k}`);
      });
      if (T > 0) {
        assert.ok(new Set(a.map((r) => r.tokens.join(","))).size > 6, `T=${T}: rows are different samples`);
        const other = await native.sample(reqs, opts, new Rng(4));
        assert.notDeepEqual(other.map((r) => r.tokens), a.map((r) => r.tokens), "another generator, other samples");
      } else {
        const ref = await tfjs.sample(reqs, opts, new Rng(3));
        assert.deepEqual(a.map((r) => r.tokens), ref.map((r) => r.tokens), "greedy equals the tfjs sampler's greedy");
      }
    }
    // top-p < 1: llama.cpp's chain truncates before temperature, so native mode samples exactly (same tokens as tfjs).
    const opts = { temperature: 0.8, topP: 0.9, eos: EOS };
    const [a, b] = [await native.sample(reqs, opts, new Rng(5)), await tfjs.sample(reqs, opts, new Rng(5))];
    a.forEach((r, k) => assert.deepEqual(r.tokens, b[k].tokens, `top-p row ${k}`));
  } finally {
    await native.close();
  }
});

test("more rows than sequences, prefixes longer than a batch holds: queued, fed in pieces, every log-prob and token as tfjs", async () => {
  // Two contexts of 16 sequences x 64 positions: node-llama-cpp caps their batch at 512 tokens, so
  // 16 rows of 40+ tokens go in pieces, and 40 rows wait for the 32 sequences.
  const long: ModelConfig = { ...config, maxSeqLen: 64 };
  const w = initialWeights(long, 11);
  for (const [name, a] of w) if (!name.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 8;
  const ref = new BuiltinBackend(long, w);
  const cppLong = await GgufBackend.fromPolicy(long, w, policyVocab(VOCAB), { sequences: 32, sequencesPerContext: 16 });
  try {
    const rng = new Rng(21);
    const reqs = Array.from({ length: 40 }, () => ({
      prefix: [VOCAB.bos, ...Array.from({ length: 40 + rng.int(10) }, () => 3 + rng.int(VOCAB.size - 3))],
      tokens: Array.from({ length: 5 + rng.int(10) }, () => 3 + rng.int(VOCAB.size - 3)),
    }));
    const [a, b] = [await cppLong.score(reqs, 1), await ref.score(reqs, 1)];
    reqs.forEach((_, k) => assertClose(a[k], b[k], 1e-4, 0, `scored row ${k}`));
    const samples = reqs.map((q) => ({ prefix: q.prefix, maxNew: 12 }));
    const opts = { temperature: 1, topP: 1, eos: EOS };
    const [sa, sb] = [await cppLong.sample(samples, opts, new Rng(8)), await ref.sample(samples, opts, new Rng(8))];
    sa.forEach((r, k) => {
      assert.deepEqual(r.tokens, sb[k].tokens, `sampled row ${k}`);
      assertClose(r.logprobs, sb[k].logprobs, 1e-4, 0, `sampled row ${k}`);
    });
  } finally {
    await cppLong.close();
    await ref.close();
  }
});
