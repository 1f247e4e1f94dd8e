import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { MetricsSnapshot } from '../protocol/shapes.js';

/** Length of the window event-loop delay and utilisation are reported over. */
const WINDOW_MS = 5000;
/** Event-loop delay sampling resolution (node's default); the sampler is a libuv timer, negligible next to a request. */
const RESOLUTION_MS = 10;

interface LoopWindow { readonly p99: number; readonly max: number; readonly utilization: number }

/**
 * The process's own numbers: CPU time, memory, and how its event loop fares (delay percentiles
 * and utilisation over the last complete window of WINDOW_MS, so every scraper, Prometheus or
 * `actorrt top`, reads the same values whatever its interval, and none resets them for another).
 */
export class ProcessVitals {
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private last: LoopWindow = { p99: 0, max: 0, utilization: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = Math.round(Date.now() - performance.now()) / 1000;

  constructor() {
    this.delay.enable();
    this.timer = setInterval(() => this.rotate(), WINDOW_MS);
    this.timer.unref();
  }

  private rotate(): void {
    const elu = performance.eventLoopUtilization();
    const d = this.delay;
    // The histogram counts from when the timer was due; a delay below the resolution is noise of the sampler itself.
    this.last = {
      p99: Math.max(0, d.percentile(99) / 1e9 - RESOLUTION_MS / 1000),
      max: Math.max(0, d.max / 1e9 - RESOLUTION_MS / 1000),
      utilization: performance.eventLoopUtilization(elu, this.elu).utilization,
    };
    this.elu = elu;
    d.reset();
  }

  snapshot(): MetricsSnapshot {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const one = (value: number): [{ labels: []; value: number }] => [{ labels: [], value }];
    return {
      actorrt_process_cpu_seconds_total: one((cpu.user + cpu.system) / 1e6),
      actorrt_process_resident_memory_bytes: one(mem.rss),
      actorrt_process_heap_used_bytes: one(mem.heapUsed),
      actorrt_process_heap_total_bytes: one(mem.heapTotal),
      actorrt_process_event_loop_lag_p99_seconds: one(this.last.p99),
      actorrt_process_event_loop_lag_max_seconds: one(this.last.max),
      actorrt_process_event_loop_utilization_ratio: one(this.last.utilization),
      actorrt_process_start_time_seconds: one(this.startedAt),
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.delay.disable();
  }
}
