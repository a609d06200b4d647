/** The kernels: the committed binary is the compiled text, and it computes C (+)= A B for every layout the model uses. */
import test from "node:test";
import assert from "node:assert/strict";
import wabtInit from "wabt";
import { kernelsWat } from "../../src/train/native/kernels-wat.js";
import { KERNELS_WASM_BASE64 } from "../../src/train/native/kernels-binary.js";
import { Workspace } from "../../src/train/native/kernels.js";
import { Rng } from "../../src/train/rng.js";

test("kernels-binary.ts is the compiled kernels-wat.ts (run scripts/build-kernels.mjs after editing the text)", async () => {
  const wabt = await wabtInit();
  const mod = wabt.parseWat("kernels.wat", kernelsWat(), { simd: true });
  const bytes = Buffer.from(mod.toBinary({}).buffer).toString("base64");
  mod.destroy();
  assert.equal(KERNELS_WASM_BASE64, bytes);
});

/** Reference product in float64 with explicit strides. */
function refGemm(M: number, N: number, K: number, A: Float32Array, ars: number, acs: number, B: Float32Array, ldb: number, C0: Float32Array | null, ldc: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = C0 ? C0[i * ldc + j] : 0;
    for (let k = 0; k < K; k++) s += A[i * ars + k * acs] * B[k * ldb + j];
    out[i * N + j] = s;
  }
  return out;
}

test("gemm matches a float64 reference: plain, transposed A, strided B and C, accumulate, ragged edges", () => {
  const rng = new Rng(5);
  const ws = new Workspace();
  ws.reserveGemm(300);
  // [M, N, K, A transposed?, extra columns of B and C (strided sub-matrix), accumulate]
  const cases: [number, number, number, boolean, number, boolean][] = [
    [1, 1, 1, false, 0, false], [4, 8, 3, false, 0, false], [7, 49, 13, false, 0, false], [13, 17, 29, true, 0, true],
    [40, 40, 32, false, 3, false], [40, 32, 40, true, 5, true], [64, 128, 300, false, 0, false], [5, 3, 2, true, 1, true],
  ];
  for (const [M, N, K, trans, extra, acc] of cases) {
    const ldb = N + extra, ldc = N + extra;
    const a = ws.alloc(M * K), b = ws.alloc(K * ldb), c = ws.alloc(M * ldc);
    for (const f of [a, b, c]) for (let i = 0; i < f.length; i++) f.a[i] = rng.normal();
    const ars = trans ? 1 : K, acs = trans ? M : 1;
    const before = Float32Array.from(c.a);
    const want = refGemm(M, N, K, a.a, ars, acs, b.a, ldb, acc ? before : null, ldc);
    ws.gemm(M, N, K, a, 0, ars, acs, b, 0, ldb, c, 0, ldc, acc);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) assert.ok(Math.abs(c.a[i * ldc + j] - want[i * N + j]) < 1e-4 * Math.sqrt(K), `[${M},${N},${K}] C[${i},${j}]`);
      // Columns outside the sub-matrix are untouched.
      for (let j = N; j < ldc; j++) assert.equal(c.a[i * ldc + j], before[i * ldc + j]);
    }
  }
});

test("gemm refuses an inner dimension larger than the reserved packing panel", () => {
  const ws = new Workspace();
  ws.reserveGemm(8);
  const a = ws.alloc(100), b = ws.alloc(100), c = ws.alloc(100);
  assert.throws(() => ws.gemm(1, 1, 100, a, 0, 100, 1, b, 0, 1, c, 0, 1, false), /reserved pack size/);
});
