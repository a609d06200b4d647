/**
 * The local GGUF judge (src/judge/gguf-judge.ts) on real GGUF files loaded by node-llama-cpp,
 * and the exporter's GPT-2 byte-level spelling that lets any text round-trip through them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byteLevelDecode, byteLevelEncode, policyToGguf } from "../../src/rollout/gguf-export.js";
import { BuiltinBackend } from "../../src/rollout/builtin.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { useBackend } from "../../src/train/policy/tf.js";
import { Rng } from "../../src/train/rng.js";
import { SYMBOLS } from "../../src/tasks/vocab.js";
import { GgufJudge, checkGgufFile, ggufIdentity } from "../../src/judge/gguf-judge.js";
import { JudgeClient, type ChatRequest } from "../../src/judge/client.js";
import { buildCritiqueMessages, type ChatMessage } from "../../src/judge/prompt.js";
import { InputError } from "../../src/core/errors.js";
import { CHATML_TEMPLATE, fixedAnswerGguf } from "./fixed-answer-gguf.js";

const dir = mkdtempSync(join(tmpdir(), "cf-gguf-judge-"));
const utf8 = new TextEncoder();

test("byte-level spelling: every byte round-trips, 256 distinct one-character spellings, GPT-2's anchors", () => {
  const all = Uint8Array.from({ length: 256 }, (_, b) => b);
  const text = byteLevelEncode(all);
  const chars = [...text];
  assert.equal(chars.length, 256);
  assert.equal(new Set(chars).size, 256);
  assert.deepEqual(byteLevelDecode(text), all);
  for (let b = 0; b < 256; b++) assert.deepEqual(byteLevelDecode(byteLevelEncode(Uint8Array.of(b))), Uint8Array.of(b));
  // GPT-2's table: printable bytes stand for themselves, the rest count up from U+0100 in byte order.
  assert.equal(byteLevelEncode(Uint8Array.of(0x20)), "\u0120"); // space: Ġ
  assert.equal(byteLevelEncode(Uint8Array.of(0x0a)), "\u010a"); // newline: Ċ
  assert.equal(byteLevelEncode(Uint8Array.of(0x00)), "\u0100");
  assert.equal(byteLevelEncode(Uint8Array.of(0x7f)), "\u0121"); // DEL is the 34th non-printable byte
  assert.equal(byteLevelEncode(Uint8Array.of(0xa0)), "\u0142"); // NBSP
  assert.equal(byteLevelEncode(Uint8Array.of(0xad)), "\u0143"); // soft hyphen, the last one
  assert.equal(byteLevelEncode(Uint8Array.of(0x41, 0xe9)), "A\u00e9");
  // Multi-byte characters spell byte by byte: "é" is C3 A9.
  assert.equal(byteLevelEncode(utf8.encode("é→")), "Ã©âĨĴ");
  assert.throws(() => byteLevelDecode("a\u0200"), /U\+0200/);
});

test("byte-level spelling of the task vocabulary is what the exporter always wrote (space -> Ġ, the rest as is)", () => {
  for (const c of SYMBOLS) assert.equal(byteLevelEncode(utf8.encode(c)), c === " " ? "\u0120" : c);
});

test("checkGgufFile: a missing file, a directory, a file that is not a GGUF and an unknown GGUF version are refused naming the file", () => {
  const missing = join(dir, "absent.gguf");
  assert.throws(() => checkGgufFile(missing), (e: unknown) => e instanceof InputError && e.message === `${missing}: cannot read the judge model (ENOENT)`);
  const sub = join(dir, "adir.gguf");
  mkdirSync(sub);
  assert.throws(() => checkGgufFile(sub), (e: unknown) => e instanceof InputError && /adir\.gguf: is not a file/.test(e.message));
  const text = join(dir, "notes.gguf");
  writeFileSync(text, "GGU");
  assert.throws(() => checkGgufFile(text), /notes\.gguf: is not a GGUF model/);
  writeFileSync(text, "{\"not\": \"a model\"}");
  assert.throws(() => checkGgufFile(text), /notes\.gguf: is not a GGUF model/);
  const future = fixedAnswerGguf(["ab"]).bytes;
  future[4] = 99;
  writeFileSync(text, future);
  assert.throws(() => checkGgufFile(text), /notes\.gguf: is GGUF version 99; llama\.cpp reads versions 2 and 3/);
});

test("a GGUF that llama.cpp cannot load: one line with llama.cpp's reason", async () => {
  const path = join(dir, "truncated.gguf");
  writeFileSync(path, fixedAnswerGguf(["ab"]).bytes.subarray(0, 200));
  await assert.rejects(GgufJudge.open(path), (e: unknown) => e instanceof InputError && /^\S+truncated\.gguf: llama\.cpp cannot load this model: .*exceeds remaining file size/.test(e.message) && !e.message.includes("\n"));
});

const ANSWER = ["Step 2 is wrong \u2192 ", "2 + 2 = 4.\n", "WRONG_STEPS: ", "[2]"];
const messages: ChatMessage[] = [
  { role: "system", content: "You grade." },
  { role: "user", content: "Problem: 2+2?\nStep 1: 2+2\nStep 2: 2+2=5" },
];

test("a GGUF without a chat template: the General format, the exact answer (newline and non-ASCII intact), token counts", async () => {
  const path = join(dir, "plain.gguf");
  writeFileSync(path, fixedAnswerGguf(ANSWER).bytes);
  const judge = await GgufJudge.open(path);
  try {
    assert.equal(judge.formatName, "General (the model has no chat template)");
    const prompt = "You grade.\n\n### Human\nProblem: 2+2?\nStep 1: 2+2\nStep 2: 2+2=5\n\n### Assistant\n";
    assert.equal(judge.formatPrompt(messages), "BOS" + prompt);
    const a = await judge.complete({ model: "m", messages, temperature: 0, max_tokens: 100, n: 1 }, 0);
    assert.equal(a.content, ANSWER.join(""));
    // The vocabulary has no merges: the prompt is one token per byte, plus BOS; the answer one token per piece.
    assert.deepEqual(a.usage, { promptTokens: utf8.encode(prompt).length + 1, completionTokens: ANSWER.length });
    // max_tokens cuts the answer (at 2 tokens node-llama-cpp would hold back the trailing "\n",
    // a possible start of the "\n### Human" stop text); a sampled answer from this peaked model
    // is the same text.
    assert.equal((await judge.complete({ model: "m", messages, temperature: 0, max_tokens: 3, n: 1 }, 0)).content, ANSWER.slice(0, 3).join(""));
    assert.equal((await judge.complete({ model: "m", messages, temperature: 0.8, max_tokens: 100, n: 1 }, 3)).content, ANSWER.join(""));
  } finally {
    await judge.close();
  }
});

test("a GGUF with a ChatML template is formatted by it; a prompt longer than the context is an error, not a truncation", async () => {
  const path = join(dir, "chatml.gguf");
  writeFileSync(path, fixedAnswerGguf(ANSWER, { chatTemplate: CHATML_TEMPLATE, contextLength: 256 }).bytes);
  const judge = await GgufJudge.open(path);
  try {
    assert.equal(judge.formatName, "ChatML (from the model's chat template)");
    const prompt = "<|im_start|>system\nYou grade.<|im_end|>\n<|im_start|>user\nProblem: 2+2?\nStep 1: 2+2\nStep 2: 2+2=5<|im_end|>\n<|im_start|>assistant\n";
    assert.equal(judge.formatPrompt(messages), "BOS" + prompt);
    const a = await judge.complete({ model: "m", messages, temperature: 0, max_tokens: 100, n: 1 }, 0);
    assert.equal(a.content, ANSWER.join(""));
    // llama.cpp recognises "<|im_end|>" by its text as an end-of-generation token, so it is one
    // special token; everything else is one token per byte, plus BOS.
    assert.equal(a.usage?.promptTokens, utf8.encode(prompt.replaceAll("<|im_end|>", "#")).length + 1);
    const long: ChatMessage[] = [{ role: "user", content: "x".repeat(300) }];
    await assert.rejects(judge.complete({ model: "m", messages: long, temperature: 0, max_tokens: 10, n: 1 }, 0), /chatml\.gguf: the prompt takes \d+ tokens, its context holds 256/);
  } finally {
    await judge.close();
  }
});

test("through the JudgeClient: critiques parsed, one generation per prompt at temperature 0, K when sampling, tokens counted; the cache identity is the file's bytes", async () => {
  const path = join(dir, "capo.gguf");
  const model = fixedAnswerGguf(ANSWER);
  writeFileSync(path, model.bytes);
  const judge = await GgufJudge.open(path);
  try {
    const client = new JudgeClient({ transport: judge, model: await ggufIdentity(path), temperature: 0, k: 2 });
    const steps = ["2 + 2", "2 + 2 = 5", "so 5"];
    const r = await client.critique("What is 2 + 2?", steps);
    assert.deepEqual(r.critiques, [[1], [1]]);
    assert.equal(r.malformed, 0);
    const promptBytes = utf8.encode(judge.formatPrompt(buildCritiqueMessages("What is 2 + 2?", steps)).replace(/^BOS/, "")).length;
    // At temperature 0 the local judge is deterministic: one generation serves both samples.
    assert.deepEqual(client.stats, { requests: 1, retries: 0, cacheHits: 1, promptTokens: promptBytes + 1, completionTokens: ANSWER.length, unreportedUsage: 0 });
    await client.critique("What is 2 + 2?", steps);
    assert.equal(client.stats.requests, 1);
    assert.equal(client.stats.cacheHits, 3);
    // Sampling (temperature > 0): each of the K samples is its own generation (seed j).
    const sampling = new JudgeClient({ transport: judge, model: "m", temperature: 0.5, k: 2 });
    assert.deepEqual((await sampling.critique("What is 2 + 2?", steps)).critiques, [[1], [1]]);
    assert.equal(sampling.stats.requests, 2);
    assert.equal(sampling.stats.completionTokens, 2 * ANSWER.length);
    // Same bytes under another name: another identity only by name; other bytes: another hash.
    const other = join(dir, "other.gguf");
    writeFileSync(other, fixedAnswerGguf(["WRONG_STEPS: ", "[]"]).bytes);
    const [a, b] = [await ggufIdentity(path), await ggufIdentity(other)];
    assert.match(a, /^gguf:capo\.gguf:\d+:[0-9a-f]{64}$/);
    assert.notEqual(a.split(":")[3], b.split(":")[3]);
  } finally {
    await judge.close();
  }
});

test("a random-weights GGUF judge answers with the model's own greedy continuation (as the tfjs policy decodes it), whatever was asked before", async () => {
  // Vocabulary: the specials and one token per ASCII byte, so the prompt's tokens are its bytes.
  const symbols = ["<pad>", "<s>", "</s>", ...Array.from({ length: 128 }, (_, c) => String.fromCharCode(c))];
  const config: ModelConfig = { vocabSize: symbols.length, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 256, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };
  const weights = initialWeights(config, 11);
  // Scaled up so the next-token distributions are peaked: no near-ties for float rounding to flip.
  for (const [name, a] of weights) if (!name.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 8;
  const path = join(dir, "random.gguf");
  writeFileSync(path, policyToGguf(config, weights, { symbols, bos: 1, eos: 2, pad: 0 }));
  const ask = (content: string): ChatMessage[] => [{ role: "system", content: "Judge." }, { role: "user", content }];
  const [A, B] = [ask("Step 1: 3 * 4 = 12"), ask("Step 1: 9 - 5 = 3")];
  const request = (messages: ChatMessage[]): ChatRequest => ({ model: "m", messages, temperature: 0, max_tokens: 24, n: 1 });

  await useBackend("wasm");
  const tfjs = new BuiltinBackend(config, weights);
  const first = await GgufJudge.open(path);
  const second = await GgufJudge.open(path);
  try {
    const a1 = await first.complete(request(A), 0);
    await second.complete(request(B), 0);
    const a2 = await second.complete(request(A), 0);
    assert.equal(a2.content, a1.content, "the answer to A does not depend on what the judge answered before");
    // The reference: greedy decoding of the same prompt tokens by the built-in policy.
    const prompt = first.formatPrompt(A).replace(/^BOS/, "");
    const prefix = [1, ...[...utf8.encode(prompt)].map((b) => 3 + b)];
    const [ref] = await tfjs.sample([{ prefix, maxNew: 24 }], { temperature: 0, topP: 1, eos: 2 }, new Rng(1));
    const text = String.fromCharCode(...ref.tokens.filter((t) => t >= 3).map((t) => t - 3));
    assert.ok(text.length > 0);
    assert.equal(a1.usage?.completionTokens, ref.tokens.length - (ref.finished ? 1 : 0));
    assert.equal(a1.content, text);
  } finally {
    await first.close();
    await second.close();
    await tfjs.close();
  }
});

test("a chat template node-llama-cpp cannot render: the General format, and the format line says why", async () => {
  const path = join(dir, "broken-template.gguf");
  writeFileSync(path, fixedAnswerGguf(ANSWER, { chatTemplate: "{% for message in messages %}{{ message['content'] }" }).bytes);
  const judge = await GgufJudge.open(path);
  try {
    assert.match(judge.formatName, /^General \(the model's chat template cannot be used: .+\)$/);
    assert.equal(judge.formatPrompt(messages), "BOSYou grade.\n\n### Human\nProblem: 2+2?\nStep 1: 2+2\nStep 2: 2+2=5\n\n### Assistant\n");
    assert.equal((await judge.complete({ model: "m", messages, temperature: 0, max_tokens: 100, n: 1 }, 0)).content, ANSWER.join(""));
  } finally {
    await judge.close();
  }
});
