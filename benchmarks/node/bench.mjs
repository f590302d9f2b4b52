#!/usr/bin/env node
// bench.mjs — run the benchmark workloads on the real xstate v5 and print one JSON object.
//
// Called by benchmarks/bench_engine.py, which writes the workload spec (the same machine configs,
// event sequences and expected states the Python side uses) as JSON on standard input:
//
//   node bench.mjs [XSTATE_BASE_DIR] < spec.json
//
// XSTATE_BASE_DIR is a folder whose node_modules/ holds xstate (default: this folder).
// Guards and actions named in the configs are implemented here exactly as in bench_engine.py.
//
// Spec: { target_seconds, repetitions,
//         toggle:  { config, event, expected: [leaf-name lists, one per step from the start] },
//         nested:  { config, prelude: [event types], cycle: [event types],
//                    expected_start, expected_steps: [{leaves, level}], expected_prelude_end },
//         build:   { config, probe: [event types], expected_probe: [state values] } }
// Output: { xstate_version, node_version, toggle, nested, build }, each workload
//         { ops_per_second (median), samples, unit, batch }.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { measure as measureRate, median, now } from './timing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const baseDir = path.resolve(process.argv[2] ?? here);
const require = createRequire(path.join(baseDir, 'package.json'));
const xstate = require('xstate');
const xstateVersion = JSON.parse(
  fs.readFileSync(require.resolve('xstate/package.json'), 'utf8')
).version;
const { createActor, createMachine, setup, assign } = xstate;

const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
const TARGET = spec.target_seconds;
const REPS = spec.repetitions;

// ---------------------------------------------------------------- helpers
// Same protocol as bench_engine.py (timing.mjs), with this run's target and repetitions.
function measure(runBatch, opsPerUnit) {
  return measureRate(runBatch, opsPerUnit, TARGET, REPS);
}

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
  if (!cond) {
    throw new Error(`xstate verification failed: ${message}`);
  }
}

// ---------------------------------------------------------------- a. toggle
function benchToggle(w) {
  const machine = createMachine(w.config);
  const verify = createActor(machine).start();
  const ev = { type: w.event };
  w.expected.forEach((exp, i) => {
    if (i > 0) verify.send(ev);
    const v = verify.getSnapshot().value;
    check(sameLeaves(v, exp), `toggle step ${i}: ${JSON.stringify(v)} != ${exp}`);
  });
  const actor = createActor(machine).start();
  const before = actor.getSnapshot().value;
  let sent = 0;
  const res = measure((n) => {
    for (let i = 0; i < n; i++) actor.send(ev);
    sent += n;
  }, 1);
  // The total number of sends is known, so the final state is too: check the machine really moved.
  const after = actor.getSnapshot().value;
  check((sent % 2 === 0) === (after === before), `toggle parity after ${sent} sends`);
  return { ...res, unit: 'events/s' };
}

// ---------------------------------------------------------------- b. nested media player
function playerMachine(config) {
  return setup({
    guards: {
      canIncrease: ({ context }) => context.level < 10,
      canDecrease: ({ context }) => context.level > 0
    },
    actions: {
      volumeUp: assign({ level: ({ context }) => context.level + 1 }),
      volumeDown: assign({ level: ({ context }) => context.level - 1 })
    }
  }).createMachine(config);
}

function observe(actor) {
  const s = actor.getSnapshot();
  return { leaves: leaves(s.value).sort(), level: s.context.level };
}

function checkObs(actor, exp, where) {
  const o = observe(actor);
  const want = [...exp.leaves].sort();
  check(
    o.level === exp.level && o.leaves.length === want.length && o.leaves.every((x, i) => x === want[i]),
    `${where}: got ${JSON.stringify(o)}, expected ${JSON.stringify(exp)}`
  );
}

function benchNested(w) {
  const machine = playerMachine(w.config);
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
  const res = measure((n) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) actor.send(events[j]);
    }
  }, k);
  checkObs(actor, w.expected_prelude_end, 'nested after timing');
  return { ...res, unit: 'events/s' };
}

// ---------------------------------------------------------------- c. build a 100-state machine
function benchBuild(w) {
  const machine = createMachine(w.config);
  const actor = createActor(machine).start();
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  check(same(actor.getSnapshot().value, w.expected_probe[0]), 'build: initial state');
  w.probe.forEach((t, i) => {
    actor.send({ type: t });
    const v = actor.getSnapshot().value;
    check(same(v, w.expected_probe[i + 1]), `build probe ${i} (${t}): ${JSON.stringify(v)}`);
  });
  let sink = null;
  const res = measure((n) => {
    for (let i = 0; i < n; i++) sink = createMachine(w.config);
  }, 1);
  check(sink !== null && sink.id === w.config.id, 'build: machine built');
  return { ...res, unit: 'builds/s' };
}

// ---------------------------------------------------------------- main
const out = {
  xstate_version: xstateVersion,
  node_version: process.version,
  toggle: benchToggle(spec.toggle),
  nested: benchNested(spec.nested),
  build: benchBuild(spec.build)
};
process.stdout.write(JSON.stringify(out) + '\n');
