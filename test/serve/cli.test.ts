/**
 * `creditflow serve` as a process: --port 0 prints {"listening": URL} first on stdout, logs are
 * JSON lines on stderr, bad flags exit 2 with one line, and SIGTERM during a request lets that
 * request complete (correct answer), refuses new connections, and exits 0.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { assertSameRows, expectedRows, ROOT, syntheticRows, type AdvantageRowJson } from "./helpers.js";

const BIN = join(ROOT, "bin", "creditflow.js");

describe("creditflow serve (process)", () => {
  it("refuses bad flags with one line and exit 2", () => {
    for (const args of [["--port", "x"], ["--workers", "0"], ["--timeout-s", "-1"], ["--log-level", "loud"], ["--nope"]]) {
      const r = spawnSync(process.execPath, [BIN, "serve", ...args], { encoding: "utf8" });
      assert.equal(r.status, 2, args.join(" "));
      assert.match(r.stderr, /^creditflow: [^\n]+\n$/, args.join(" "));
    }
  });

  it("SIGTERM during a request: the request completes, new connections are refused, exit 0", async () => {
    const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--workers", "1"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
      const { listening } = JSON.parse(first) as { listening: string };
      assert.match(listening, /^http:\/\/127\.0\.0\.1:\d+$/);

      const rows = syntheticRows(20, 4, 12);
      const lines = [JSON.stringify({ method: "grpo" }), ...rows.map((r) => JSON.stringify(r))];
      let answer = "";
      let status = 0;
      const done = new Promise<void>((resolve, reject) => {
        const req = request(listening + "/v1/assign", { method: "POST", headers: { "content-type": "application/x-ndjson" } }, (res) => {
          status = res.statusCode as number;
          res.on("data", (d: Buffer) => (answer += d.toString()));
          res.on("end", resolve);
          res.on("error", reject);
        });
        req.on("error", reject);
        // Half the request now; the rest after SIGTERM: the request is certainly in flight when it arrives.
        req.write(lines.slice(0, 40).join("\n") + "\n");
        setTimeout(() => {
          child.kill("SIGTERM");
          setTimeout(() => {
            // Draining: a new connection is refused while the old request is still open.
            const probe = request(listening + "/healthz");
            probe.on("response", (res) => reject(new Error(`a new request was served while draining (${res.statusCode})`)));
            probe.on("error", () => {
              req.end(lines.slice(40).join("\n") + "\n");
            });
            probe.end();
          }, 300);
        }, 300);
      });
      await done;
      assert.equal(status, 200);
      const got = answer.trim().split("\n").map((l) => JSON.parse(l) as AdvantageRowJson);
      assertSameRows(got, expectedRows("grpo", rows), "answer across SIGTERM");
      assert.equal(await exited, 0);
      const logs = stderr.trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      assert.ok(logs.some((l) => l.msg === "draining: finishing requests in flight"));
      assert.ok(logs.some((l) => l.msg === "request"));
    } finally {
      child.kill("SIGKILL");
    }
  });
});
