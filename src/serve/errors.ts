/**
 * The service's error answers: `{"error": {"field", "line", "message"}}` with an HTTP status.
 * `line` is the 1-based rollout number within the request (null where no rollout is at fault);
 * `field` names the offending field (`tokens`, `signals.x`, `method`, `config`, ...) or is null.
 */
import { ConfigError, InputError } from "../core/errors.js";

export interface WireError {
  readonly field: string | null;
  readonly line: number | null;
  readonly message: string;
}

/** An error with the status and body the client gets. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly field: string | null,
    readonly line: number | null,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }

  wire(): WireError {
    return { field: this.field, line: this.line, message: this.message };
  }
}

/** What every user error of the core becomes on the wire; anything else is a bug (500). */
export function toRequestError(e: unknown, configField = "config"): RequestError {
  if (e instanceof RequestError) return e;
  if (e instanceof InputError) return new RequestError(400, e.field === "" ? null : e.field, e.line > 0 ? e.line : null, e.detail);
  // The core's option and method errors: the caller says which request field they came from.
  if (e instanceof ConfigError) return new RequestError(400, configField, null, e.message);
  return new RequestError(500, null, null, "internal error (please report)");
}

export function errorJson(e: RequestError): string {
  return JSON.stringify({ error: e.wire() });
}

/** The plain-data form of an error crossing the worker boundary (class identity does not survive structured clone). */
export type PortableError =
  | { readonly kind: "input"; readonly file: string; readonly line: number; readonly field: string; readonly detail: string }
  | { readonly kind: "config"; readonly message: string; readonly configField: string }
  | { readonly kind: "request"; readonly status: number; readonly field: string | null; readonly line: number | null; readonly message: string }
  | { readonly kind: "bug"; readonly message: string };

export function toPortable(e: unknown, configField = "config"): PortableError {
  if (e instanceof InputError) return { kind: "input", file: e.file, line: e.line, field: e.field, detail: e.detail };
  if (e instanceof ConfigError) return { kind: "config", message: e.message, configField };
  if (e instanceof RequestError) return { kind: "request", status: e.status, field: e.field, line: e.line, message: e.message };
  return { kind: "bug", message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}

export function fromPortable(p: PortableError): Error {
  switch (p.kind) {
    case "input":
      return new InputError(p.file, p.line, p.field, p.detail);
    case "config":
      return toRequestError(new ConfigError(p.message), p.configField);
    case "request":
      return new RequestError(p.status, p.field, p.line, p.message);
    case "bug":
      return new Error(p.message);
  }
}
