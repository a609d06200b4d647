/**
 * Errors a user can act on. The CLI prints `creditflow: <message>` and exits 2 for both kinds;
 * anything else is a bug and exits 1 with its stack.
 */

/** Bad input in a rollout file: names the file, the 1-based line and the field. */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    readonly detail: string,
  ) {
    super(line > 0 ? `${file}:${line}: field '${field}': ${detail}` : `${file}: field '${field}': ${detail}`);
    this.name = "InputError";
  }
}

/** Bad configuration or usage: unknown method, unknown option key, wrong option type. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function isUserError(e: unknown): e is InputError | ConfigError {
  return e instanceof InputError || e instanceof ConfigError;
}
