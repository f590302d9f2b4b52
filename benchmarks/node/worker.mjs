#!/usr/bin/env node
// worker.mjs — the Node side of benchmarks/sidebyside.py: one long-lived process per workload, driven
// over stdin/stdout with one JSON object per line (the protocol is in sidebyside.py's docstring).
//
//   node worker.mjs [XSTATE_BASE_DIR]
//
// XSTATE_BASE_DIR is a folder whose node_modules/ holds xstate (default: this folder). `setup` imports
// ./<module> and calls its `setup(workload, params, xstate)`, which verifies the workload and returns
// { unit, opsPerUnit, observed, run(n), check() }. `run(n)` may be async, and may return
// { elapsed, cpu } when only part of a unit is timed.

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { cpuSeconds, now } from './timing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const baseDir = path.resolve(process.argv[2] ?? here);
const require = createRequire(path.join(baseDir, 'package.json'));
const xstate = require('xstate');
const xstateVersion = JSON.parse(fs.readFileSync(require.resolve('xstate/package.json'), 'utf8')).version;


async function timed(workload, n) {
  const c0 = cpuSeconds();
  const t0 = now();
  const out = await workload.run(n);
  const elapsed = now() - t0;
  const cpu = cpuSeconds() - c0;
  return out && typeof out === 'object' && 'elapsed' in out ? out : { elapsed, cpu };
}

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
let workload = null;

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  try {
    if (msg.cmd === 'quit') {
      reply({ ok: true });
      break;
    } else if (msg.cmd === 'setup') {
      const mod = await import(pathToFileURL(path.join(here, msg.module)).href);
      workload = await mod.setup(msg.workload, msg.params ?? {}, xstate);
      reply({
        ok: true,
        unit: workload.unit,
        ops_per_unit: workload.opsPerUnit,
        observed: workload.observed ?? {},
        versions: { node: process.version, xstate: xstateVersion }
      });
    } else if (!workload) {
      throw new Error(`${msg.cmd} before setup`);
    } else if (msg.cmd === 'warmup' || msg.cmd === 'batch') {
      const { elapsed, cpu } = await timed(workload, msg.n);
      reply({ ok: true, elapsed, cpu });
    } else if (msg.cmd === 'check') {
      reply({ ok: true, observed: await workload.check() });
    } else {
      throw new Error(`unknown command ${msg.cmd}`);
    }
  } catch (err) {
    reply({ ok: false, error: `${err && err.stack ? err.stack : err}` });
  }
}
process.exit(0);
