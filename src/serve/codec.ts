/**
 * Decoding `POST /v1/assign` requests and encoding their answers, for the three encodings of
 * docs/serve.md. Everything here is synchronous CPU work and runs in a worker thread for the
 * one-shot encodings (JSON, Arrow): the event loop only moves bytes.
 */
import { isAscii } from "node:buffer";
import type { RolloutBatch } from "../core/batch.js";
import { getMethod, knownSignals, type Assignment } from "../core/registry.js";
import { batchFromObjects, type ValidateOptions } from "../core/rows.js";
import { resolveOptions } from "../core/schema.js";
import "../methods/index.js";
import { advantagesArrow, readArrowRollouts } from "../io/arrow.js";
import type { AsciiChunks } from "../io/ascii-chunks.js";
import { advantagesJsonl, asciiJson } from "../io/jsonl.js";
import { RequestError } from "./errors.js";

/** The name rollout errors carry as their file; the wire drops it and keeps line and field. */
export const REQUEST_SOURCE = "<request>";

let validateOptions: ValidateOptions | null = null;
/** Signal names are checked against every registered method, as `assign` does. */
export function requestValidation(): ValidateOptions {
  validateOptions ??= { knownSignals: knownSignals() };
  return validateOptions;
}

/** The method and its options, checked before any rollout is read. Returns the canonical name. */
export function checkMethodAndConfig(method: unknown, config: unknown): { method: string; config: unknown } {
  if (typeof method !== "string" || method === "") throw new RequestError(400, "method", null, "required: the name of a credit-assignment method (see GET /v1/methods)");
  let spec;
  try {
    spec = getMethod(method);
  } catch (e) {
    throw new RequestError(400, "method", null, (e as Error).message);
  }
  const cfg = config ?? {};
  if (typeof cfg !== "object" || Array.isArray(cfg)) throw new RequestError(400, "config", null, "expected a JSON object of method options");
  try {
    resolveOptions(spec.name, spec.options, cfg);
  } catch (e) {
    throw new RequestError(400, "config", null, (e as Error).message.replace(/^--config:\s*/, ""));
  }
  return { method: spec.name, config: cfg };
}

/** Request bytes as text: pure ASCII (the usual case) decodes as latin1, several times faster than UTF-8. */
export function bytesToText(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isAscii(buf) ? buf.toString("latin1") : buf.toString("utf8");
}

/** Parses one JSON text, or a 400 naming `field` and `line`. */
export function parseJson(text: string, field: string | null, line: number | null): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RequestError(400, field, line, `invalid JSON (${(e as Error).message})`);
  }
}

export interface DecodedRequest {
  readonly method: string;
  readonly config: unknown;
  readonly batch: RolloutBatch;
}

/** `application/json`: `{"method", "config"?, "rollouts": [...]}`. */
export function decodeJsonRequest(bytes: Uint8Array): DecodedRequest {
  const body = parseJson(bytesToText(bytes), null, null);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RequestError(400, null, null, "expected a JSON object {\"method\", \"config\", \"rollouts\"}");
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "method" && k !== "config" && k !== "rollouts") throw new RequestError(400, k, null, "unknown field (allowed: method, config, rollouts)");
  const { method, config } = checkMethodAndConfig(o.method, o.config);
  if (!Array.isArray(o.rollouts)) throw new RequestError(400, "rollouts", null, "required: an array of rollout objects (docs/rollouts.md section 1)");
  return { method, config, batch: batchFromObjects(o.rollouts, REQUEST_SOURCE, requestValidation()) };
}

/** `application/vnd.apache.arrow.stream`: method and config come from the query string. */
export function decodeArrowRequest(bytes: Uint8Array, method: string, config: unknown, maxDecodedBytes = Infinity): DecodedRequest {
  return { method, config, batch: readArrowRollouts(bytes, REQUEST_SOURCE, requestValidation(), maxDecodedBytes) };
}

/**
 * `{"method": ..., "advantages": [rows]}` as byte chunks: the rows are the advantage-file lines
 * of docs/rollouts.md section 2, separated by commas. The chunks are sent as they are: joining
 * tens of megabytes into one buffer would cost more than writing them. `writer`: see jobs.ts.
 */
export function jsonAnswerChunks(method: string, batch: RolloutBatch, out: Assignment, writer?: AsciiChunks): Uint8Array[] {
  const prefix = `{"method":${asciiJson(JSON.stringify(method))},"advantages":[`;
  return [...advantagesJsonl(batch, out, { lineEnd: ",", lastLineEnd: "", prefix, suffix: "]}", writer })];
}

/** The JSON answer as one buffer. */
export function jsonAnswer(method: string, batch: RolloutBatch, out: Assignment): Uint8Array {
  return Buffer.concat(jsonAnswerChunks(method, batch, out));
}

/** The Arrow IPC stream answer: id, advantages, returns?, weights?, diag? (JSON text). */
export function arrowAnswer(batch: RolloutBatch, out: Assignment): Uint8Array {
  return advantagesArrow(batch, out, "stream");
}
