// engine.mjs — the engine workloads on the real xstate v5, for benchmarks/bench_engine.py through the
// side-by-side harness (worker.mjs). The twin of `sidebyside_workload` in bench_engine.py: the same
// configs, event sequences and expected states arrive as params; guards and actions are implemented
// here exactly as there. Setup verifies state by state; check() reports the units run and where the
// timed instance ended.

function leaves(value) {
  if (typeof value === 'string') return [value];
  const out = [];
  for (const [k, v] of Object.entries(value)) {
    if (v && typeof v === 'object' && Object.keys(v).length > 0) out.push(...leaves(v));
    else if (typeof v === 'string') out.push(v);
    else out.push(k);
  }
  return out;
}

function sameLeaves(value, expected) {
  const got = leaves(value).sort();
  const want = [...expected].sort();
  return got.length === want.length && got.every((x, i) => x === want[i]);
}

function check(cond, message) {
  if (!cond) throw new Error(`xstate verification failed: ${message}`);
}

// ---------------------------------------------------------------- a. toggle
function toggle(w, { createActor, createMachine }) {
  const machine = createMachine(w.config);
  const verify = createActor(machine).start();
  const ev = { type: w.event };
  w.expected.forEach((exp, i) => {
    if (i > 0) verify.send(ev);
    const v = verify.getSnapshot().value;
    check(sameLeaves(v, exp), `toggle step ${i}: ${JSON.stringify(v)} != ${exp}`);
  });
  const actor = createActor(machine).start();
  let units = 0;
  return {
    unit: 'events/s',
    opsPerUnit: 1,
    run(n) {
      for (let i = 0; i < n; i++) actor.send(ev);
      units += n;
    },
    check: () => ({ units, leaves: leaves(actor.getSnapshot().value).sort() })
  };
}

// ---------------------------------------------------------------- b. nested media player
function nested(w, { createActor, setup, assign }) {
  const machine = setup({
    guards: {
      canIncrease: ({ context }) => context.level < 10,
      canDecrease: ({ context }) => context.level > 0
    },
    actions: {
      volumeUp: assign({ level: ({ context }) => context.level + 1 }),
      volumeDown: assign({ level: ({ context }) => context.level - 1 })
    }
  }).createMachine(w.config);
  const observe = (actor) => {
    const s = actor.getSnapshot();
    return { leaves: leaves(s.value).sort(), level: s.context.level };
  };
  const checkObs = (actor, exp, where) => {
    const o = observe(actor);
    const want = [...exp.leaves].sort();
    check(
      o.level === exp.level && o.leaves.length === want.length && o.leaves.every((x, i) => x === want[i]),
      `${where}: got ${JSON.stringify(o)}, expected ${JSON.stringify(exp)}`
    );
  };
  const verify = createActor(machine).start();
  checkObs(verify, w.expected_start, 'nested start');
  for (const t of w.prelude) verify.send({ type: t });
  checkObs(verify, w.expected_prelude_end, 'nested after prelude');
  w.cycle.forEach((t, i) => {
    verify.send({ type: t });
    checkObs(verify, w.expected_steps[i], `nested cycle step ${i} (${t})`);
  });

  const actor = createActor(machine).start();
  for (const t of w.prelude) actor.send({ type: t });
  const events = w.cycle.map((t) => ({ type: t }));
  const k = events.length;
  let units = 0;
  return {
    unit: 'events/s',
    opsPerUnit: k,
    run(n) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) actor.send(events[j]);
      }
      units += n;
    },
    check: () => ({ units, ...observe(actor) })
  };
}

// ---------------------------------------------------------------- c. build a 100-state machine
function build(w, { createActor, createMachine }) {
  const machine = createMachine(w.config);
  const actor = createActor(machine).start();
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  check(same(actor.getSnapshot().value, w.expected_probe[0]), 'build: initial state');
  w.probe.forEach((t, i) => {
    actor.send({ type: t });
    const v = actor.getSnapshot().value;
    check(same(v, w.expected_probe[i + 1]), `build probe ${i} (${t}): ${JSON.stringify(v)}`);
  });
  let last = null;
  let units = 0;
  return {
    unit: 'builds/s',
    opsPerUnit: 1,
    run(n) {
      for (let i = 0; i < n; i++) last = createMachine(w.config);
      units += n;
    },
    check: () => ({ units, id: last.id, state_nodes: last.idMap.size })
  };
}

const WORKLOADS = { toggle, nested, build };

export function setup(name, params, xstate) {
  const make = WORKLOADS[name];
  if (!make) throw new Error(`unknown workload ${name}`);
  return make(params, xstate);
}
