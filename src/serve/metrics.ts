/**
 * The service's Prometheus metrics, rendered in the text exposition format (version 0.0.4):
 * requests by route, credit method and status; a latency histogram by route; rollouts and
 * tokens processed by method; in-flight requests; worker pool occupancy. Hand-written: four
 * metric kinds do not justify a dependency.
 */

/** Latency bucket bounds in seconds: 1 ms to 2 min, roughly x2.5 apart. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Record<string, string>, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) out.push(`${this.name}${k} ${v}`);
    return out;
  }
}

class Histogram {
  private readonly series = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}
  observe(labels: Record<string, string>, x: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Cumulative buckets are formed at render time; here each observation lands in its first bucket.
    for (let b = 0; b < this.bounds.length; b++) {
      if (x <= this.bounds[b]) {
        s.counts[b]++;
        break;
      }
    }
    s.sum += x;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let cum = 0;
      for (let b = 0; b < this.bounds.length; b++) {
        cum += s.counts[b];
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(this.bounds[b]) })} ${cum}`);
      }
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

function gauge(name: string, help: string, value: number): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
}

/** What the pool and the server report at scrape time. */
export interface LiveState {
  inFlight: number;
  workers: number;
  workersBusy: number;
  queued: number;
  workersReplaced: number;
}

export class ServiceMetrics {
  readonly requests = new Counter("creditflow_requests_total", "HTTP requests by route, credit method (empty if none) and status ('aborted': the client left first; a streamed answer cut short by an error counts under the error's status).");
  readonly latency = new Histogram("creditflow_request_duration_seconds", "Time from a request's arrival to the end of its answer, by route.", LATENCY_BUCKETS);
  readonly rollouts = new Counter("creditflow_rollouts_total", "Rollouts assigned credit, by method.");
  readonly tokens = new Counter("creditflow_tokens_total", "Tokens assigned credit, by method.");

  /** Records a finished request. */
  request(route: string, method: string, status: string, seconds: number): void {
    this.requests.inc({ route, method, status });
    this.latency.observe({ route }, seconds);
  }

  processed(method: string, rollouts: number, tokens: number): void {
    this.rollouts.inc({ method }, rollouts);
    this.tokens.inc({ method }, tokens);
  }

  render(live: LiveState): string {
    return [
      ...this.requests.render(),
      ...this.latency.render(),
      ...this.rollouts.render(),
      ...this.tokens.render(),
      ...gauge("creditflow_in_flight_requests", "POST /v1/assign requests being served.", live.inFlight),
      ...gauge("creditflow_workers", "Worker threads in the pool.", live.workers),
      ...gauge("creditflow_workers_busy", "Worker threads running a job.", live.workersBusy),
      ...gauge("creditflow_jobs_queued", "Jobs waiting for a worker thread.", live.queued),
      `# HELP creditflow_workers_replaced_total Worker threads ended to cancel a job past its deadline or after a crash.`,
      `# TYPE creditflow_workers_replaced_total counter`,
      `creditflow_workers_replaced_total ${live.workersReplaced}`,
    ].join("\n") + "\n";
  }
}
