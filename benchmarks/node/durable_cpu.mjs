#!/usr/bin/env node
// durable_cpu.mjs — the CPU side of a durable step on the real xstate v5, for bench_durable.py.
//
//   node durable_cpu.mjs [XSTATE_BASE_DIR] < spec.json
//
// One step does what a Node service storing xstate actors would do per event, with an in-process Map
// as the store (no I/O, like bench_durable.py's memory-store step): read the stored record text and
// its version, JSON.parse it, createActor(machine, { snapshot }).start(), send the event,
// getPersistedSnapshot(), JSON.stringify the new record, compare-and-set it into the Map, stop.
//
// Spec: { config, record (the record text written by durable-xstate), event, target_seconds,
//         repetitions }. Output: { xstate_version, node_version, ops_per_second, samples, batch,
//         final_n, steps } (final_n: the counter in the stored record after all steps).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { measure } from './timing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const baseDir = path.resolve(process.argv[2] ?? here);
const require = createRequire(path.join(baseDir, 'package.json'));
const { createActor, setup, assign } = require('xstate');
const xstateVersion = JSON.parse(fs.readFileSync(require.resolve('xstate/package.json'), 'utf8')).version;

const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
const machine = setup({ actions: { inc: assign({ n: ({ context }) => context.n + 1 }) } }).createMachine(spec.config);
const store = new Map([['bench/node.json', { data: spec.record, version: 1 }]]);
let steps = 0;

function step() {
  const got = store.get('bench/node.json');
  const record = JSON.parse(got.data);
  const actor = createActor(machine, { id: record.id, snapshot: record.snapshot }).start();
  actor.send(spec.event);
  const next = {
    ...record,
    snapshot: actor.getPersistedSnapshot(),
    revision: record.revision + 1,
    updatedAt: new Date().toISOString(),
  };
  const data = JSON.stringify(next);
  const current = store.get('bench/node.json');
  if (current.version !== got.version) throw new Error('conflict');
  store.set('bench/node.json', { data, version: got.version + 1 });
  actor.stop();
  steps += 1;
}

const result = measure(
  (n) => {
    for (let i = 0; i < n; i++) step();
  },
  1,
  spec.target_seconds,
  spec.repetitions,
);
const finalN = JSON.parse(store.get('bench/node.json').data).snapshot.context.n;
process.stdout.write(
  JSON.stringify({ xstate_version: xstateVersion, node_version: process.version, ...result, final_n: finalN, steps }),
);
