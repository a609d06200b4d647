/** The kernels: the committed binary is the compiled text, and it computes C (+)= A B for every layout the model uses. */
import test from "node:test";
import assert from "node:assert/strict";
import wabtInit from "wabt";
import { kernelsWat } from "../../src/train/native/kernels-wat.js";
import { KERNELS_WASM_BASE64 } from "../../src/train/native/kernels-binary.js";
import { Workspace, swiglu } from "../../src/train/native/kernels.js";
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

test("dots and wsum (one query's attention halves) match float64 references", () => {
  const rng = new Rng(8);
  const ws = new Workspace();
  const len = 12, n = 9, ld = 20;
  const q = ws.alloc(len), rows = ws.alloc(n * ld), w = ws.alloc(n), out = ws.alloc(n), out2 = ws.alloc(len);
  for (const f of [q, rows, w]) for (let i = 0; i < f.length; i++) f.a[i] = rng.normal();
  ws.dots(q, 0, rows, 4, ld, n, len, out, 0);
  ws.wsum(w, 0, rows, 4, ld, n, len, out2, 0);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < len; i++) s += q.a[i] * rows.a[4 + j * ld + i];
    assert.ok(Math.abs(out.a[j] - s) < 1e-5, `dots[${j}]`);
  }
  for (let i = 0; i < len; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += w.a[j] * rows.a[4 + j * ld + i];
    assert.ok(Math.abs(out2.a[i] - s) < 1e-5, `wsum[${i}]`);
  }
});

test("swiglu: sigmoid and silu(a) * u to 5e-7 relative of Math.exp, finite at the extremes, tail included", () => {
  const ws = new Workspace();
  const vals = [0, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 3.7, -3.7, 10, -10, 20, -20, 40, -40, 87, -87, 88, -88, 100, -100, 1e30, -1e30];
  const rng = new Rng(2);
  for (let i = 0; i < 200; i++) vals.push(rng.normal() * 6);
  const n = vals.length; // not a multiple of 4: the tail runs in JS
  const a = ws.alloc(n), u = ws.alloc(n), sg = ws.alloc(n), out = ws.alloc(n);
  for (let i = 0; i < n; i++) {
    a.a[i] = vals[i];
    u.a[i] = rng.normal();
  }
  swiglu(ws, a, u, sg, out, n);
  for (let i = 0; i < n; i++) {
    const x = a.a[i];
    const s = 1 / (1 + Math.exp(-x));
    assert.ok(Number.isFinite(sg.a[i]) && Number.isFinite(out.a[i]), `finite at ${x}`);
    assert.ok(Math.abs(sg.a[i] - s) <= 5e-7 * s + 1e-30, `sigmoid(${x}) = ${sg.a[i]}, want ${s}`);
    const o = x * s * u.a[i];
    assert.ok(Math.abs(out.a[i] - o) <= 6e-7 * Math.abs(o) + 1e-30, `silu(${x}) * u`);
  }
});
