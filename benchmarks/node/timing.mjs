// timing.mjs — the measuring protocol the Node benchmark scripts share (bench_engine.py's, in Python).

export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Grow the batch until one batch takes >= 1/4 of `target` seconds, scale it to the target, warm up
// (and let the JIT tier up) for >= the target, re-sizing after each warm-up batch, then time `reps`
// batches; report the median rate. `runBatch(n)` runs n units of `opsPerUnit` operations each.
export function measure(runBatch, opsPerUnit, target, reps) {
  let n = 1;
  for (;;) {
    const t0 = now();
    runBatch(n);
    const dt = now() - t0;
    if (dt >= target / 4 || n >= 1 << 30) {
      n = Math.max(1, Math.round((n * target) / Math.max(dt, 1e-9)));
      break;
    }
    n *= 2;
  }
  let warm = 0;
  while (warm < target) {
    const t0 = now();
    runBatch(n);
    const dt = now() - t0;
    warm += dt;
    n = Math.max(1, Math.round((n * target) / Math.max(dt, 1e-9)));
  }
  const samples = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    runBatch(n);
    const dt = now() - t0;
    samples.push((n * opsPerUnit) / dt);
  }
  return { ops_per_second: median(samples), samples, batch: n * opsPerUnit };
}
