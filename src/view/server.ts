/**
 * The local web server of `creditflow view`: the built page from dist/viewer plus `/data.js`
 * (the files given on the command line). Read-only, GET and HEAD only, no directory listing,
 * and nothing outside dist/viewer is reachable.
 */
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { SITE_DIR } from "./site.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon",
};

export interface ViewServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startViewServer(dataJs: string, port: number, host: string, siteDir = SITE_DIR): Promise<ViewServer> {
  const data = Buffer.from(dataJs, "utf8");
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: Buffer | string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return send(400, "text/plain", "bad path\n");
    }
    if (path === "/data.js") return send(200, TYPES[".js"], data);
    if (path.endsWith("/")) path += "index.html";
    const file = normalize(join(siteDir, path));
    if (!file.startsWith(normalize(siteDir + sep))) return send(404, "text/plain", "not found\n");
    readFile(file).then(
      (body) => send(200, TYPES[extname(file)] ?? "application/octet-stream", body),
      () => send(404, "text/plain", "not found\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actualPort = typeof addr === "object" && addr ? addr.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${actualPort}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
