/**
 * GGUF export of the built-in policy: a `llama` architecture model with F32 tensors that
 * llama.cpp (and node-llama-cpp) load as is, so the policy can be sampled and scored by
 * llama.cpp. GGUF v3 layout: header, key/value metadata, tensor infos, then the tensor data,
 * every tensor aligned to 32 bytes.
 *
 * Layout facts this relies on:
 * - GGUF lists a tensor's dimensions fastest first (ne[0] = the input width of a matrix); the
 *   data is row-major over the reversed list. The policy stores matrices [in, out] (x @ W), so
 *   they are written transposed, as [out][in]; the embedding [V, d] is already [row = token].
 * - The policy rotates adjacent pairs (2i, 2i+1), which is llama.cpp's "normal" rope, the one
 *   the llama architecture uses: q and k need no permutation.
 * - A tied output embedding is written by leaving out `output.weight` (llama.cpp then reuses
 *   token_embd).
 * - The tokenizer is a GPT-2 style BPE vocabulary with no merges, one token per vocabulary
 *   symbol, so every id keeps its meaning and text tokenizes character by character. An SPM
 *   ("llama") vocabulary is refused by llama.cpp without a newline token, which the task
 *   vocabulary does not have. Symbols are written in GPT-2's byte-level spelling (every UTF-8
 *   byte one character: a space is "Ġ", a newline "Ċ"), so any text round-trips; the specials
 *   (pad, bos, eos) are control tokens.
 */

import type { ModelConfig } from "../train/policy/model.js";

/** The model configuration the exporter reads (the policy's own). */
export type GgufModelSpec = ModelConfig;

export interface GgufVocabSpec {
  /** One string per token id. */
  symbols: readonly string[];
  bos: number;
  eos: number;
  pad: number;
  /** A Jinja chat template written as `tokenizer.chat_template` (none by default). */
  chatTemplate?: string;
}

const ALIGNMENT = 32;

enum ValueType {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

const GGML_TYPE_F32 = 0;
const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_CONTROL = 3;

type MetaValue =
  | { type: "u32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "str"; value: string }
  | { type: "strs"; value: readonly string[] }
  | { type: "f32s"; value: readonly number[] }
  | { type: "i32s"; value: readonly number[] };

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private readonly utf8 = new TextEncoder();

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }

  u64(v: number): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }

  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  str(s: string): void {
    const b = this.utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }

  padTo(alignment: number): void {
    while (this.length % alignment !== 0) this.u8(0);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function writeValue(w: ByteWriter, v: MetaValue): void {
  switch (v.type) {
    case "u32": w.u32(ValueType.UINT32); w.u32(v.value); return;
    case "f32": w.u32(ValueType.FLOAT32); w.f32(v.value); return;
    case "bool": w.u32(ValueType.BOOL); w.u8(v.value ? 1 : 0); return;
    case "str": w.u32(ValueType.STRING); w.str(v.value); return;
    case "strs": w.u32(ValueType.ARRAY); w.u32(ValueType.STRING); w.u64(v.value.length); for (const s of v.value) w.str(s); return;
    case "f32s": w.u32(ValueType.ARRAY); w.u32(ValueType.FLOAT32); w.u64(v.value.length); for (const x of v.value) w.f32(x); return;
    case "i32s": w.u32(ValueType.ARRAY); w.u32(ValueType.INT32); w.u64(v.value.length); for (const x of v.value) w.i32(x); return;
  }
}

/** [rows, cols] row-major to [cols, rows] row-major. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * GPT-2's byte <-> unicode table, as llama.cpp's BPE vocabularies use it: a token's text is its
 * bytes, each spelled as one printable character. The 188 printable bytes ('!'..'~', '¡'..'¬',
 * '®'..'ÿ') stand for themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) take
 * U+0100 on, in byte order, so a space is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
 */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table.push(String.fromCodePoint(printable ? b : next++));
  }
  return table;
})();
const utf8 = new TextEncoder();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** Bytes in GPT-2's byte-level spelling (one character per byte). */
export function byteLevelEncode(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/** The bytes a byte-level spelling stands for; a character outside the table is an error. */
export function byteLevelDecode(text: string): Uint8Array {
  const chars = [...text];
  const out = new Uint8Array(chars.length);
  chars.forEach((c, k) => {
    const b = CHAR_TO_BYTE.get(c);
    if (b === undefined) throw new Error(`byte-level text: '${c}' (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) stands for no byte`);
    out[k] = b;
  });
  return out;
}

/**
 * GPT-2 byte-level spelling of a vocabulary symbol: its UTF-8 bytes through the table, so any
 * text (newlines, tabs, non-ASCII) detokenizes back to itself. For printable ASCII and space
 * (the task vocabulary) this is the identity except space -> 'Ġ'.
 */
function byteLevel(symbol: string): string {
  return byteLevelEncode(utf8.encode(symbol));
}

interface TensorOut {
  name: string;
  /** GGUF dimensions, fastest first. */
  ne: number[];
  data: Float32Array;
}

/** The policy's tensors in GGUF order and layout. */
function ggufTensors(m: GgufModelSpec, weights: ReadonlyMap<string, Float32Array>): TensorOut[] {
  const get = (n: string, size: number): Float32Array => {
    const x = weights.get(n);
    if (!x) throw new Error(`gguf export: missing weight '${n}'`);
    if (x.length !== size) throw new Error(`gguf export: weight '${n}' has ${x.length} values, expected ${size}`);
    for (let k = 0; k < x.length; k++) if (!Number.isFinite(x[k])) throw new Error(`gguf export: weight '${n}' has a non-finite value at ${k}`);
    return x;
  };
  const d = m.dModel, ff = m.dFF, V = m.vocabSize;
  const out: TensorOut[] = [{ name: "token_embd.weight", ne: [d, V], data: get("token_embd.weight", V * d) }];
  // [in, out] matrices are written as [out][in]: GGUF ne = [in, out].
  const mat = (name: string, din: number, dout: number): TensorOut => ({ name, ne: [din, dout], data: transpose(get(name, din * dout), din, dout) });
  for (let l = 0; l < m.nLayers; l++) {
    const p = `blk.${l}.`;
    out.push(
      { name: p + "attn_norm.weight", ne: [d], data: get(p + "attn_norm.weight", d) },
      mat(p + "attn_q.weight", d, d),
      mat(p + "attn_k.weight", d, d),
      mat(p + "attn_v.weight", d, d),
      mat(p + "attn_output.weight", d, d),
      { name: p + "ffn_norm.weight", ne: [d], data: get(p + "ffn_norm.weight", d) },
      mat(p + "ffn_gate.weight", d, ff),
      mat(p + "ffn_up.weight", d, ff),
      mat(p + "ffn_down.weight", ff, d),
    );
  }
  out.push({ name: "output_norm.weight", ne: [d], data: get("output_norm.weight", d) });
  if (!m.tieEmbeddings) out.push(mat("output.weight", d, V));
  return out;
}

/** The GGUF file's bytes for a policy (config + weights by GGUF tensor name) and its vocabulary. */
export function policyToGguf(m: GgufModelSpec, weights: ReadonlyMap<string, Float32Array>, vocab: GgufVocabSpec, name = "creditflow-policy"): Uint8Array {
  if (vocab.symbols.length !== m.vocabSize) throw new Error(`gguf export: vocabulary has ${vocab.symbols.length} symbols, model ${m.vocabSize}`);
  const specials = new Set([vocab.bos, vocab.eos, vocab.pad]);
  const meta: [string, MetaValue][] = [
    ["general.architecture", { type: "str", value: "llama" }],
    ["general.name", { type: "str", value: name }],
    ["general.alignment", { type: "u32", value: ALIGNMENT }],
    ["general.file_type", { type: "u32", value: 0 }], // all F32
    ["llama.context_length", { type: "u32", value: m.maxSeqLen }],
    ["llama.embedding_length", { type: "u32", value: m.dModel }],
    ["llama.block_count", { type: "u32", value: m.nLayers }],
    ["llama.feed_forward_length", { type: "u32", value: m.dFF }],
    ["llama.attention.head_count", { type: "u32", value: m.nHeads }],
    ["llama.attention.head_count_kv", { type: "u32", value: m.nHeads }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: m.normEps }],
    ["llama.rope.freq_base", { type: "f32", value: m.ropeTheta }],
    ["llama.rope.dimension_count", { type: "u32", value: m.dModel / m.nHeads }],
    ["llama.vocab_size", { type: "u32", value: m.vocabSize }],
    ["tokenizer.ggml.model", { type: "str", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "str", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "strs", value: vocab.symbols.map(byteLevel) }],
    ["tokenizer.ggml.token_type", { type: "i32s", value: vocab.symbols.map((_, i) => (specials.has(i) ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL)) }],
    ["tokenizer.ggml.merges", { type: "strs", value: [] }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: vocab.bos }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: vocab.eos }],
    ["tokenizer.ggml.padding_token_id", { type: "u32", value: vocab.pad }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
  if (vocab.chatTemplate !== undefined) meta.push(["tokenizer.chat_template", { type: "str", value: vocab.chatTemplate }]);
  const tensors = ggufTensors(m, weights);
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(meta.length);
  for (const [k, v] of meta) {
    w.str(k);
    writeValue(w, v);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    w.str(t.name);
    w.u32(t.ne.length);
    for (const n of t.ne) w.u64(n);
    w.u32(GGML_TYPE_F32);
    w.u64(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGNMENT) * ALIGNMENT;
  }
  w.padTo(ALIGNMENT);
  const dataStart = w.length;
  tensors.forEach((t, k) => {
    while (w.length < dataStart + offsets[k]) w.u8(0);
    w.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });
  w.padTo(ALIGNMENT);
  return w.result();
}
