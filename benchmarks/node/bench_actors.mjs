#!/usr/bin/env node
// bench_actors.mjs — run the actor-model benchmark workloads on the real xstate v5 and print one JSON
// object.
//
// Called by benchmarks/bench_actors.py, which writes the workload spec (the same machine configs,
// counts and delays the Python side uses) as JSON on standard input:
//
//   node bench_actors.mjs [XSTATE_BASE_DIR] < spec.json
//
// XSTATE_BASE_DIR is a folder whose node_modules/ holds xstate (default: this folder).
// The configs name their actions, guards, actors and delays; they are implemented here exactly as in
// bench_actors.py (`python_*_machine` there). Progress lines go to standard error.
//
// Spec: { target_seconds, repetitions, min_repetitions, budget_seconds,
//         spawn:    { parent, child, count },
//         waves:    { parent, child, wave, waves },
//         pingpong: { parent, child, rounds, probe_rounds },
//         timers:   { config, count, step_ms, groups } }
// Output: { xstate_version, node_version, <workload>: { ops_per_second (median), samples, batch,
//           unit, observed } } — `observed` is what the verification run saw; bench_actors.py
//           compares it with its expectation and with what durable_xstate saw.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { median, now } from './timing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const baseDir = path.resolve(process.argv[2] ?? here);
const require = createRequire(path.join(baseDir, 'package.json'));
const xstate = require('xstate');
const xstateVersion = JSON.parse(
  fs.readFileSync(require.resolve('xstate/package.json'), 'utf8')
).version;
const {
  createActor,
  createMachine,
  setup,
  assign,
  enqueueActions,
  sendParent,
  sendTo,
  spawnChild,
  stopChild,
  SimulatedClock
} = xstate;

const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
const TARGET = spec.target_seconds;
const REPS = spec.repetitions;
const MIN_REPS = spec.min_repetitions;
const BUDGET = spec.budget_seconds;

// ---------------------------------------------------------------- helpers

function check(cond, message) {
  if (!cond) {
    throw new Error(`xstate verification failed: ${message}`);
  }
}

function progress(message) {
  process.stderr.write(`  xstate (Node) ${message}\n`);
}

function timed(fn) {
  const t0 = now();
  fn();
  return now() - t0;
}

// Same protocol as bench_actors.py. The verification run of one unit (`verifiedSeconds`) is the
// first sizing batch and counts as warm-up. Grow the batch (doubling) until one takes >= 1/4 of the
// target, scale it to the target, warm up until >= the target has run (re-sizing after each
// warm-up batch), then up to REPS timed batches; stop early once BUDGET seconds are spent and
// MIN_REPS samples exist. Report the median.
function measure(runBatch, opsPerUnit, verifiedSeconds) {
  let spent = verifiedSeconds;
  let warm = verifiedSeconds;
  let n = 1;
  let dt = verifiedSeconds;
  let units = 0;
  while (dt < TARGET / 4 && n < 1 << 30) {
    n *= 2;
    dt = timed(() => runBatch(n));
    units += n;
    spent += dt;
    warm += dt;
  }
  n = Math.max(1, Math.round((n * TARGET) / Math.max(dt, 1e-9)));
  while (warm < TARGET) {
    dt = timed(() => runBatch(n));
    units += n;
    spent += dt;
    warm += dt;
    n = Math.max(1, Math.round((n * TARGET) / Math.max(dt, 1e-9)));
  }
  const samples = [];
  for (let i = 0; i < REPS; i++) {
    if (i >= MIN_REPS && spent > BUDGET) break;
    dt = timed(() => runBatch(n));
    units += n;
    spent += dt;
    samples.push((n * opsPerUnit) / dt);
  }
  return { ops_per_second: median(samples), samples, batch: n * opsPerUnit, units };
}

// The same, for a unit that needs an untimed preparation: `prepare()` builds a fresh unit, `fire(u)`
// is timed, `after(u)` checks it. A batch of n units times only the n `fire` calls. The budget counts
// the preparation too (wall time).
function measurePrepared(prepare, fire, after, opsPerUnit, verifiedSeconds) {
  const wallStart = now() - verifiedSeconds;
  const runBatch = (n) => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const u = prepare();
      total += timed(() => fire(u));
      after(u);
    }
    return total;
  };
  let warm = verifiedSeconds;
  let n = 1;
  let dt = verifiedSeconds;
  while (dt < TARGET / 4 && n < 1 << 20) {
    n *= 2;
    dt = runBatch(n);
    warm += dt;
  }
  n = Math.max(1, Math.round((n * TARGET) / Math.max(dt, 1e-9)));
  while (warm < TARGET) {
    dt = runBatch(n);
    warm += dt;
    n = Math.max(1, Math.round((n * TARGET) / Math.max(dt, 1e-9)));
  }
  const samples = [];
  for (let i = 0; i < REPS; i++) {
    if (i >= MIN_REPS && now() - wallStart > BUDGET) break;
    dt = runBatch(n);
    samples.push((n * opsPerUnit) / dt);
  }
  return { ops_per_second: median(samples), samples, batch: n * opsPerUnit };
}

const childCount = (actor) => Object.keys(actor.getSnapshot().children).length;

// ---------------------------------------------------------------- 1. spawn and stop
// Mirrors python_spawn_machine() in bench_actors.py.
function spawnMachine(w) {
  const child = createMachine(w.child);
  return setup({
    actors: { child },
    actions: {
      spawnOne: spawnChild('child', { id: ({ context }) => `c${context.n}` }),
      countSpawn: assign({ n: ({ context }) => context.n + 1 }),
      stopOldest: stopChild(({ context }) => `c${context.oldest}`),
      countStop: assign({ oldest: ({ context }) => context.oldest + 1 })
    }
  }).createMachine(w.parent);
}

function benchSpawn(w) {
  const machine = spawnMachine(w);
  const count = w.count;
  const spawnEv = { type: 'SPAWN' };
  const stopEv = { type: 'STOP' };
  const actor = createActor(machine).start();
  const observed = {};
  const t0 = now();
  for (let i = 0; i < count; i++) actor.send(spawnEv);
  const kids = actor.getSnapshot().children;
  const ids = Object.keys(kids);
  const refs = Object.values(kids);
  observed.peak_children = ids.length;
  observed.ids_in_spawn_order = ids.every((id, i) => id === `c${i}`);
  observed.all_children_active_in_idle = refs.every(
    (r) => r.getSnapshot().status === 'active' && r.getSnapshot().value === 'idle'
  );
  observed.context_after_spawns = { ...actor.getSnapshot().context };
  actor.send(stopEv);
  observed.after_first_stop = {
    children: childCount(actor),
    oldest_present: 'c0' in actor.getSnapshot().children,
    oldest_status: refs[0].getSnapshot().status,
    next_status: refs[1].getSnapshot().status
  };
  for (let i = 1; i < count; i++) actor.send(stopEv);
  observed.end = {
    children: childCount(actor),
    all_stopped: refs.every((r) => r.getSnapshot().status === 'stopped'),
    context: { ...actor.getSnapshot().context }
  };
  const verified = now() - t0;

  let units = 1;
  const res = measure((n) => {
    for (let u = 0; u < n; u++) {
      for (let i = 0; i < count; i++) actor.send(spawnEv);
      for (let i = 0; i < count; i++) actor.send(stopEv);
    }
    units += n;
  }, count, verified);
  const ctx = actor.getSnapshot().context;
  check(childCount(actor) === 0, `spawn: ${childCount(actor)} children left after timing`);
  check(
    ctx.n === units * count && ctx.oldest === units * count,
    `spawn: context ${JSON.stringify(ctx)} after ${units} units`
  );
  delete res.units;
  return { ...res, unit: 'pairs/s', observed };
}

// ---------------------------------------------------------------- 1b. spawn and stop in waves
function benchWaves(w) {
  const machine = spawnMachine(w);
  const { wave, waves } = w;
  const spawnEv = { type: 'SPAWN' };
  const stopEv = { type: 'STOP' };
  const actor = createActor(machine).start();
  let peak = 0;
  let allStopped = true;
  const t0 = now();
  for (let k = 0; k < waves; k++) {
    for (let i = 0; i < wave; i++) actor.send(spawnEv);
    const refs = Object.values(actor.getSnapshot().children);
    peak = Math.max(peak, refs.length);
    for (let i = 0; i < wave; i++) actor.send(stopEv);
    allStopped = allStopped && refs.every((r) => r.getSnapshot().status === 'stopped');
  }
  const verified = now() - t0;
  const observed = {
    peak_children: peak,
    all_stopped: allStopped,
    end: { children: childCount(actor), context: { ...actor.getSnapshot().context } }
  };
  let units = 1;
  const res = measure((n) => {
    for (let u = 0; u < n; u++) {
      for (let k = 0; k < waves; k++) {
        for (let i = 0; i < wave; i++) actor.send(spawnEv);
        for (let i = 0; i < wave; i++) actor.send(stopEv);
      }
    }
    units += n;
  }, wave * waves, verified);
  const ctx = actor.getSnapshot().context;
  const pairs = units * wave * waves;
  check(childCount(actor) === 0, `waves: ${childCount(actor)} children left after timing`);
  check(ctx.n === pairs && ctx.oldest === pairs, `waves: context ${JSON.stringify(ctx)} after ${units} units`);
  delete res.units;
  return { ...res, unit: 'pairs/s', observed };
}

// ---------------------------------------------------------------- 2. ping-pong
// Mirrors python_pingpong_machine() in bench_actors.py.
function pingpongMachine(w) {
  const ponger = setup({
    actions: {
      countPing: assign({ pings: ({ context }) => context.pings + 1 }),
      pong: sendParent({ type: 'PONG' })
    }
  }).createMachine(w.child);
  return setup({
    actors: { ponger },
    guards: { moreToGo: ({ context }) => context.pongs + 1 < context.goal },
    actions: {
      setGoal: assign({ goal: ({ context, event }) => context.pongs + event.rounds }),
      countPong: assign({ pongs: ({ context }) => context.pongs + 1 }),
      ping: sendTo('ponger', { type: 'PING' })
    }
  }).createMachine(w.parent);
}

function pingpongObservation(actor) {
  const s = actor.getSnapshot();
  const child = s.children.ponger;
  return {
    context: { ...s.context },
    child_ids: Object.keys(s.children),
    child_status: child.getSnapshot().status,
    child_context: { ...child.getSnapshot().context }
  };
}

function benchPingpong(w) {
  const machine = pingpongMachine(w);
  const actor = createActor(machine).start();
  actor.send({ type: 'START', rounds: w.probe_rounds });
  const probe = pingpongObservation(actor);
  const t1 = now();
  actor.send({ type: 'START', rounds: w.rounds });
  const verified = now() - t1;
  const full = pingpongObservation(actor);
  const observed = { after_probe: probe, after_one_unit: full };
  const start = { type: 'START', rounds: w.rounds };
  let units = 0;
  const res = measure((n) => {
    for (let u = 0; u < n; u++) actor.send(start);
    units += n;
  }, 2 * w.rounds, verified);
  const o = pingpongObservation(actor);
  const want = w.probe_rounds + (units + 1) * w.rounds;
  check(
    o.context.pongs === want && o.context.goal === want && o.child_context.pings === want,
    `pingpong: ${JSON.stringify(o)} after ${units} timed units, expected ${want}`
  );
  delete res.units;
  return { ...res, unit: 'events/s', observed };
}

// ---------------------------------------------------------------- 3. timers
// Mirrors python_timer_machine() in bench_actors.py.
function timerMachine(w) {
  return setup({
    actions: {
      armTimers: enqueueActions(({ context, event, enqueue }) => {
        for (let i = context.armed; i < context.armed + event.count; i++) {
          enqueue.raise({ type: 'TICK' }, { id: `t${i}`, delay: w.step_ms * (1 + (i % w.groups)) });
        }
      }),
      countArmed: assign({ armed: ({ context, event }) => context.armed + event.count }),
      countFired: assign({ fired: ({ context }) => context.fired + 1 })
    }
  }).createMachine(w.config);
}

function benchTimers(w) {
  const machine = timerMachine(w);
  const prepare = () => {
    const clock = new SimulatedClock();
    const actor = createActor(machine, { clock }).start();
    actor.send({ type: 'ARM', count: w.count });
    return { clock, actor };
  };
  const fire = ({ clock }) => {
    for (let g = 0; g < w.groups; g++) clock.increment(w.step_ms);
  };
  const after = ({ clock, actor }) => {
    const ctx = actor.getSnapshot().context;
    check(
      ctx.fired === w.count && clock.timeouts.size === 0,
      `timers: fired ${ctx.fired}, ${clock.timeouts.size} pending after the clock advanced`
    );
  };

  const u = prepare();
  const scheduled = () => Object.keys(u.actor.system.getSnapshot()._scheduledEvents).length;
  const observed = {
    armed: u.actor.getSnapshot().context.armed,
    scheduled: scheduled(),
    pending: u.clock.timeouts.size
  };
  u.clock.increment(w.step_ms - 1);
  observed.fired_just_before_first_due = u.actor.getSnapshot().context.fired;
  const firedAfterSteps = [];
  const t0 = now();
  u.clock.increment(1);
  firedAfterSteps.push(u.actor.getSnapshot().context.fired);
  for (let g = 1; g < w.groups; g++) {
    u.clock.increment(w.step_ms);
    firedAfterSteps.push(u.actor.getSnapshot().context.fired);
  }
  const verified = now() - t0;
  observed.fired_after_each_step = firedAfterSteps;
  observed.end = { pending: u.clock.timeouts.size, scheduled: scheduled(), status: u.actor.getSnapshot().status };

  const res = measurePrepared(prepare, fire, after, w.count, verified);
  return { ...res, unit: 'timers/s', observed };
}

// ---------------------------------------------------------------- main
const out = { xstate_version: xstateVersion, node_version: process.version };
const benches = [
  ['spawn', benchSpawn],
  ['waves', benchWaves],
  ['pingpong', benchPingpong],
  ['timers', benchTimers]
];
for (const [key, fn] of benches) {
  if (!spec[key]) continue;
  const t0 = now();
  out[key] = fn(spec[key]);
  progress(
    `${key.padEnd(9)} ${Math.round(out[key].ops_per_second).toLocaleString('en-US').padStart(12)} ${
      out[key].unit
    }   (${(now() - t0).toFixed(1)}s)`
  );
}
process.stdout.write(JSON.stringify(out) + '\n');
