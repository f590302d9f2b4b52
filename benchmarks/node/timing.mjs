// timing.mjs — the clocks the Node side of the side-by-side harness reads (worker.mjs and workloads).

// Wall-clock seconds (monotonic).
export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// CPU seconds of this process (user + system, all threads: V8's GC and compiler threads included).
export function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
