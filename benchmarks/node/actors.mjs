// actors.mjs — the actor-model workloads on the real xstate v5, for benchmarks/bench_actors.py through
// the side-by-side harness (worker.mjs). The twin of `sidebyside_workload` in bench_actors.py: the same
// configs and counts arrive as params; actions, guards and actors are implemented here exactly as in
// `python_*_machine` there. Setup runs one verification unit and reports what it saw (bench_actors.py
// compares it with its EXPECTED and with durable_xstate's); check() reports the counters after all
// units, which must equal durable_xstate's.

import { now, cpuSeconds } from './timing.mjs';

const childCount = (actor) => Object.keys(actor.getSnapshot().children).length;

// ---------------------------------------------------------------- 1. spawn and stop (and 1b. waves)
function spawnMachine(w, { createMachine, setup, assign, spawnChild, stopChild }) {
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

const spawnEv = { type: 'SPAWN' };
const stopEv = { type: 'STOP' };

function spawn(w, xstate) {
  const actor = xstate.createActor(spawnMachine(w, xstate)).start();
  const count = w.count;
  const observed = {};
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
  return {
    unit: 'pairs/s',
    opsPerUnit: count,
    observed,
    run(n) {
      for (let u = 0; u < n; u++) {
        for (let i = 0; i < count; i++) actor.send(spawnEv);
        for (let i = 0; i < count; i++) actor.send(stopEv);
      }
    },
    check: () => ({ children: childCount(actor), context: { ...actor.getSnapshot().context } })
  };
}

function waves(w, xstate) {
  const actor = xstate.createActor(spawnMachine(w, xstate)).start();
  const { wave, waves: count } = w;
  let peak = 0;
  let allStopped = true;
  for (let k = 0; k < count; k++) {
    for (let i = 0; i < wave; i++) actor.send(spawnEv);
    const refs = Object.values(actor.getSnapshot().children);
    peak = Math.max(peak, refs.length);
    for (let i = 0; i < wave; i++) actor.send(stopEv);
    allStopped = allStopped && refs.every((r) => r.getSnapshot().status === 'stopped');
  }
  const observed = {
    peak_children: peak,
    all_stopped: allStopped,
    end: { children: childCount(actor), context: { ...actor.getSnapshot().context } }
  };
  return {
    unit: 'pairs/s',
    opsPerUnit: wave * count,
    observed,
    run(n) {
      for (let k = 0; k < n * count; k++) {
        for (let i = 0; i < wave; i++) actor.send(spawnEv);
        for (let i = 0; i < wave; i++) actor.send(stopEv);
      }
    },
    check: () => ({ children: childCount(actor), context: { ...actor.getSnapshot().context } })
  };
}

// ---------------------------------------------------------------- 2. ping-pong
function pingpong(w, { createActor, setup, assign, sendParent, sendTo }) {
  const ponger = setup({
    actions: {
      countPing: assign({ pings: ({ context }) => context.pings + 1 }),
      pong: sendParent({ type: 'PONG' })
    }
  }).createMachine(w.child);
  const machine = setup({
    actors: { ponger },
    guards: { moreToGo: ({ context }) => context.pongs + 1 < context.goal },
    actions: {
      setGoal: assign({ goal: ({ context, event }) => context.pongs + event.rounds }),
      countPong: assign({ pongs: ({ context }) => context.pongs + 1 }),
      ping: sendTo('ponger', { type: 'PING' })
    }
  }).createMachine(w.parent);
  const observe = (actor) => {
    const s = actor.getSnapshot();
    const child = s.children.ponger;
    return {
      context: { ...s.context },
      child_ids: Object.keys(s.children),
      child_status: child.getSnapshot().status,
      child_context: { ...child.getSnapshot().context }
    };
  };
  const actor = createActor(machine).start();
  actor.send({ type: 'START', rounds: w.probe_rounds });
  const probe = observe(actor);
  const start = { type: 'START', rounds: w.rounds };
  actor.send(start);
  const observed = { after_probe: probe, after_one_unit: observe(actor) };
  return {
    unit: 'events/s',
    opsPerUnit: 2 * w.rounds,
    observed,
    run(n) {
      for (let u = 0; u < n; u++) actor.send(start);
    },
    check: () => observe(actor)
  };
}

// ---------------------------------------------------------------- 3. timers
function timers(w, { createActor, setup, assign, enqueueActions, SimulatedClock }) {
  const machine = setup({
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
  const prepare = () => {
    const clock = new SimulatedClock();
    const actor = createActor(machine, { clock }).start();
    actor.send({ type: 'ARM', count: w.count });
    return { clock, actor };
  };
  const fire = ({ clock }) => {
    for (let g = 0; g < w.groups; g++) clock.increment(w.step_ms);
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
  const steps = [];
  u.clock.increment(1);
  steps.push(u.actor.getSnapshot().context.fired);
  for (let g = 1; g < w.groups; g++) {
    u.clock.increment(w.step_ms);
    steps.push(u.actor.getSnapshot().context.fired);
  }
  observed.fired_after_each_step = steps;
  observed.end = { pending: u.clock.timeouts.size, scheduled: scheduled(), status: u.actor.getSnapshot().status };

  const totals = { units: 0, fired: 0, pending: 0 };
  return {
    unit: 'timers/s',
    opsPerUnit: w.count,
    observed,
    run(n) {
      // Only the clock advances are timed; preparing a unit (actor, clock, ARM) is not.
      let elapsed = 0;
      let cpu = 0;
      for (let i = 0; i < n; i++) {
        const unit = prepare();
        const c0 = cpuSeconds();
        const t0 = now();
        fire(unit);
        elapsed += now() - t0;
        cpu += cpuSeconds() - c0;
        totals.units += 1;
        totals.fired += unit.actor.getSnapshot().context.fired;
        totals.pending += unit.clock.timeouts.size;
      }
      return { elapsed, cpu };
    },
    check: () => ({ ...totals })
  };
}

const WORKLOADS = { spawn, waves, pingpong, timers };

export function setup(name, params, xstate) {
  const make = WORKLOADS[name];
  if (!make) throw new Error(`unknown workload ${name}`);
  return make(params, xstate);
}
