/** Runs the built `creditflow` command as a child process, as a user would. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const ROOT = process.cwd();
export const BIN = join(ROOT, "bin", "creditflow.js");
export const ERROR_LINE = /^creditflow: [^\n]+\n$/;

export function cf(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input: input ?? "", encoding: "utf8", maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
