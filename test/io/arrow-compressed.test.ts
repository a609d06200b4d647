/**
 * Compressed Arrow IPC input (fixtures written by pyarrow 25: LZ4 and ZSTD record batches): each
 * buffer decodes into exactly the length it declares, and an input's declared lengths are bounded,
 * so a small body cannot expand into gigabytes (a decompression bomb).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readArrowRollouts } from "../../src/io/arrow.js";
import { InputError } from "../../src/core/errors.js";
import { unpackRows } from "../../src/core/rows.js";
import { startTestServer, post } from "../serve/helpers.js";

const FIX = join(process.cwd(), "test", "io", "fixtures");
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, name)));
const LZ4_MAGIC = [0x04, 0x22, 0x4d, 0x18];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Rewrites the declared decoded length (int64 just before the frame) of the compressed buffer that declares `from`. */
function patchDeclared(bytes: Uint8Array, magic: number[], from: number, to: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let k = 0; k + 12 <= out.length; k++) {
    if (magic.every((b, j) => out[k + 8 + j] === b) && view.getBigInt64(k, true) === BigInt(from)) {
      view.setBigInt64(k, BigInt(to), true);
      return out;
    }
  }
  throw new Error(`no compressed buffer declaring ${from} bytes`);
}

describe("compressed Arrow input", () => {
  it("LZ4 and ZSTD record batches decode to the rows pyarrow wrote", () => {
    for (const codec of ["lz4", "zstd"]) {
      const rows = unpackRows(readArrowRollouts(read(`arrow-small-${codec}.arrows`), codec));
      assert.deepEqual(
        rows.map((r) => [r.id, r.group, r.tokens, r.reward]),
        [
          ["a", "g", [1, 2, 3], 1],
          ["b", "g", [4, 5], 0],
        ],
        codec,
      );
    }
  });

  it("a 3.6 KB body that decodes to 32 MB is refused under a smaller limit, naming the limit, and read without one", () => {
    const bomb = read("arrow-bomb-zstd.arrows");
    assert.ok(bomb.length < 8192);
    assert.throws(
      () => readArrowRollouts(bomb, "bomb.arrows", {}, 1 << 20),
      (e: Error) => e instanceof InputError && e.file === "bomb.arrows" && /decode to more than 1048576 bytes/.test(e.message),
    );
    const batch = readArrowRollouts(bomb, "bomb.arrows");
    assert.equal(batch.nTokens, 4_000_000);
    assert.equal(batch.tokens[3_999_999], 7);
  });

  it("a buffer holding more or fewer bytes than it declares is refused, never truncated or padded", () => {
    const small = read("arrow-small-lz4.arrows");
    // The tokens buffer: 5 int64 = 40 bytes.
    const short = patchDeclared(small, LZ4_MAGIC, 40, 32);
    assert.throws(() => readArrowRollouts(short, "short.arrows"), (e: Error) => e instanceof InputError && /declares 32 decoded bytes but holds more/.test(e.message));
    const long = patchDeclared(small, LZ4_MAGIC, 40, 48);
    assert.throws(() => readArrowRollouts(long, "long.arrows"), (e: Error) => e instanceof InputError && /declares 48 decoded bytes but holds 40/.test(e.message));
    const zstd = patchDeclared(read("arrow-small-zstd.arrows"), ZSTD_MAGIC, 40, 16);
    assert.throws(() => readArrowRollouts(zstd, "z.arrows"), (e: Error) => e instanceof InputError && /declares 16 decoded bytes but holds more/.test(e.message));
  });

  it("the service refuses a compressed body that would decode past its body size limit (400), whatever --inline-kb says", async () => {
    for (const inlineMaxBytes of [16 << 10, 0]) {
      const server = await startTestServer({ maxBodyBytes: 1 << 20, inlineMaxBytes });
      try {
        const r = await post(server.url, read("arrow-bomb-zstd.arrows"), "application/vnd.apache.arrow.stream", "/v1/assign?method=grpo");
        assert.equal(r.status, 400, r.body.toString());
        const { error } = JSON.parse(r.body.toString()) as { error: { message: string } };
        assert.match(error.message, /decode to more than 1048576 bytes/);
        const ok = await post(server.url, read("arrow-small-zstd.arrows"), "application/vnd.apache.arrow.stream", "/v1/assign?method=grpo");
        assert.equal(ok.status, 200, ok.body.toString());
      } finally {
        await server.close();
      }
    }
  });
});
