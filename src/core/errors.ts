/**
 * Errors a user can act on. The CLI prints `creditflow: <message>` and exits 2 for both kinds;
 * anything else is a bug and exits 1 with its stack.
 */

/** Escapes control characters so a message stays on one line. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** Bad input in a rollout file: names the file, the 1-based line (0: the whole file) and the field ("": none, e.g. a JSON syntax error). */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    readonly detail: string,
  ) {
    const where = line > 0 ? `${file}:${line}` : file;
    // One line, always: user-controlled text (a key, a file name) may hold newlines or quotes.
    super(oneLine(field ? `${where}: field '${field}': ${detail}` : `${where}: ${detail}`));
    this.name = "InputError";
  }
}

/** Bad configuration or usage: unknown method, unknown option key, wrong option type. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = "ConfigError";
  }
}

export function isUserError(e: unknown): e is InputError | ConfigError {
  return e instanceof InputError || e instanceof ConfigError;
}
