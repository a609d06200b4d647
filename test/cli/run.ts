/** Runs the built `creditflow` command as a child process, as a user would. */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";

export const ROOT = process.cwd();
export const BIN = join(ROOT, "bin", "creditflow.js");
export const ERROR_LINE = /^creditflow: [^\n]+\n$/;

export function cf(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input: input ?? "", encoding: "utf8", maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `cf` without blocking the event loop: for a command that talks to a server the test itself
 * runs (annotate against a local judge), which a synchronous child would deadlock.
 */
export function cfAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
