// selftest.mjs — the harness's trivial `count` workload (sidebyside.py's twin), for its smoke test.

export function setup(name, params) {
  if (name !== 'count') throw new Error(`unknown workload ${name}`);
  const per = params.per_unit ?? 100;
  let total = 0;
  return {
    unit: 'ops/s',
    opsPerUnit: per,
    observed: { start: 0 },
    run(n) {
      let t = total;
      for (let i = 0; i < n * per; i++) t += 1;
      total = t;
    },
    check: () => ({ total })
  };
}
