/**
 * A minimal HTTP/1.1 load client, as load generators such as wrk are: keep-alive connections over
 * raw sockets, each sending one pre-serialised request, waiting for its answer (status line and
 * Content-Length), then sending the next. It allocates almost nothing per request, so the latencies
 * it reports are the server's and the loopback's, not the client's own event loop and garbage
 * collector (Node's http client adds several milliseconds at the 99th percentile on two cores).
 * Answers must carry Content-Length (chunked answers, such as NDJSON's, need Node's client).
 */
import { connect, type Socket } from "node:net";

export interface LoadResult {
  /** Milliseconds from writing each request to reading the last byte of its answer. */
  readonly latencies: number[];
  readonly non200: number;
  readonly seconds: number;
}

const HEAD_END = Buffer.from("\r\n\r\n");

/** The request's bytes, serialised once. */
export function postRequest(url: URL, body: Buffer, contentType: string): Buffer {
  const path = url.pathname + url.search;
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

/**
 * Sends `total` copies of `request` over `concurrency` connections, one request in flight on each
 * (or as many as fit before `deadline`, a performance.now() time). A connection the server closes
 * with a request outstanding counts that request as a failure.
 */
export async function load(url: URL, request: Buffer, concurrency: number, total: number, deadline = Infinity): Promise<LoadResult> {
  const latencies: number[] = [];
  let sent = 0;
  let non200 = 0;
  const t0 = performance.now();
  const connection = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket: Socket = connect(Number(url.port), url.hostname);
      socket.setNoDelay(true);
      let start = 0;
      let head: Buffer | null = null; // the answer's bytes until its head is complete
      let remaining = -1; // body bytes still to come, once the head is read
      let outstanding = false;
      const next = (): void => {
        outstanding = false;
        if (sent >= total || performance.now() > deadline) {
          socket.end();
          return;
        }
        sent++;
        head = Buffer.alloc(0);
        remaining = -1;
        start = performance.now();
        outstanding = true;
        socket.write(request);
      };
      socket.on("connect", next);
      socket.on("data", (data: Buffer) => {
        if (remaining < 0) {
          head = Buffer.concat([head as Buffer, data]);
          const end = head.indexOf(HEAD_END);
          if (end < 0) return;
          const text = head.subarray(0, end).toString("latin1");
          const length = /\r\ncontent-length: *(\d+)/i.exec(text);
          if (!length) {
            reject(new Error(`load: an answer without Content-Length (${text.split("\r\n")[0]})`));
            socket.destroy();
            return;
          }
          if (!text.startsWith("HTTP/1.1 200 ")) non200++;
          remaining = Number(length[1]) - (head.length - end - HEAD_END.length);
        } else {
          remaining -= data.length;
        }
        if (remaining <= 0) {
          latencies.push(performance.now() - start);
          next();
        }
      });
      socket.on("error", reject);
      socket.on("close", () => {
        if (outstanding) non200++;
        resolve();
      });
    });
  await Promise.all(Array.from({ length: concurrency }, connection));
  return { latencies, non200, seconds: (performance.now() - t0) / 1000 };
}
