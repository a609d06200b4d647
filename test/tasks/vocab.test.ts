import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BOS, EOS, PAD, SYMBOLS, VOCAB } from "../../src/tasks/index.js";

describe("vocab", () => {
  it("is small, one character per token, specials first", () => {
    assert.ok(VOCAB.size < 64);
    assert.equal(VOCAB.size, [...SYMBOLS].length);
    assert.deepEqual([VOCAB.pad, VOCAB.bos, VOCAB.eos], [PAD, BOS, EOS]);
    assert.deepEqual([PAD, BOS, EOS], [0, 1, 2]);
    assert.equal(VOCAB.decode([BOS, EOS, PAD]), "^$_");
  });

  it("round-trips every id sequence and every text over its symbols", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: VOCAB.size - 1 }), { maxLength: 80 }), (ids) => {
        assert.deepEqual(VOCAB.encode(VOCAB.decode(ids)), ids);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...SYMBOLS), { maxLength: 80 }), (chars) => {
        const text = chars.join("");
        assert.equal(VOCAB.decode(VOCAB.encode(text)), text);
      }),
      { numRuns: 500 },
    );
  });

  it("throws on characters and ids outside the vocabulary", () => {
    assert.throws(() => VOCAB.encode("A"), /not in the vocabulary/);
    assert.throws(() => VOCAB.decode([VOCAB.size]), /outside/);
    assert.throws(() => VOCAB.decode([-1]), /outside/);
  });
});
