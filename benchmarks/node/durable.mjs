// durable.mjs — the durable step on the real xstate v5, for benchmarks/bench_durable.py through the
// side-by-side harness (worker.mjs). The twin of the memory-store step there
// (`with_persistable_actor` on `memory://`): the same work a Node service storing xstate actors the way
// durable-xstate does would do per event, with no I/O.
//
// One step: await the store's read (an in-memory Map behind an awaited Promise); split the record the
// way durable-xstate does (`{"format":…,"timersBytes":N,"timers":[…],"journalBytes":M,"journal":[…],…}`:
// timers parsed, the journal kept as text) and JSON.parse the rest; createActor(machine, {snapshot})
// .start(), collecting emitted events; send the event; getPersistedSnapshot(); carry the timers (the
// system's scheduled events) and the outbox (the stored one plus what was emitted); append a journal
// entry (event, state, status, a blake2b digest of the snapshot, a full snapshot every 20th entry,
// halved past 100 entries); JSON.stringify the record; await a compare-and-set into the Map; stop.
// The starting record is one durable-xstate wrote (params.record).

import { createHash } from 'node:crypto';

const HEAD = '{"format":"durable-xstate.record/1","timersBytes":';
const KEY = 'bench/node.json';

function segment(text, start, name) {
  const comma = text.indexOf(',', start);
  const n = Number(text.slice(start, comma));
  const begin = comma + 1 + name.length;
  if (!text.startsWith(name, comma + 1)) throw new Error(`record: no ${name} at ${comma + 1}`);
  return [begin, begin + n];
}

function split(text) {
  if (!text.startsWith(HEAD)) throw new Error('record: not written timers first');
  const [tb, te] = segment(text, HEAD.length, '"timers":');
  const jh = ',"journalBytes":';
  if (!text.startsWith(jh, te)) throw new Error('record: no journal');
  const [jb, je] = segment(text, te + jh.length, '"journal":');
  return { timers: JSON.parse(text.slice(tb, te)), journal: text.slice(jb, je), rest: JSON.parse('{' + text.slice(je + 1)) };
}

export function setup(name, params, { createActor, setup: xsetup, assign }) {
  if (name !== 'step') throw new Error(`unknown workload ${name}`);
  const machine = xsetup({ actions: { inc: assign({ n: ({ context }) => context.n + 1 }) } }).createMachine(params.config);
  const store = new Map([[KEY, { data: params.record, version: 1 }]]);
  const read = async (key) => store.get(key);
  const compareAndSet = async (key, data, version) => {
    const current = store.get(key);
    if (current.version !== version) throw new Error('conflict');
    store.set(key, { data, version: version + 1 });
  };
  const event = params.event;

  async function step() {
    const got = await read(KEY);
    const { timers: storedTimers, journal: storedJournal, rest: record } = split(got.data);
    const emitted = [];
    const actor = createActor(machine, { id: record.id, snapshot: record.snapshot });
    actor.on('*', (e) => emitted.push(e));
    actor.start();
    actor.send(event);
    const snapshot = actor.getPersistedSnapshot();
    const scheduled = Object.values(actor.system.getSnapshot()._scheduledEvents);
    const timers = scheduled.length || storedTimers.length
      ? scheduled.map((s) => ({ id: s.id, event: s.event, dueAt: s.startedAt + s.delay, target: s.target?.id ?? null }))
      : [];
    const revision = record.revision + 1;
    const at = new Date().toISOString();
    const entry = {
      revision,
      at,
      events: [{ event, from: 'send' }],
      state: snapshot.value,
      status: snapshot.status,
      digest: createHash('blake2b512').update(JSON.stringify(snapshot)).digest('hex').slice(0, 16),
      emitted
    };
    let journalCount = record.journalCount + 1;
    if (journalCount % 20 === 1) entry.snapshot = snapshot;
    let journal = storedJournal.slice(0, -2) + ',\n' + JSON.stringify(entry) + '\n]';
    if (journalCount > 100) {
      const lines = journal.slice(2, -2).split(',\n');
      const keep = lines.slice(lines.length >> 1);
      journal = '[\n' + keep.join(',\n') + '\n]';
      journalCount = keep.length;
    }
    const next = {
      ...record,
      snapshot,
      nextDueAt: timers.length ? Math.min(...timers.map((t) => t.dueAt)) : null,
      outbox: [...record.outbox, ...emitted],
      revision,
      updatedAt: at,
      journalCount
    };
    const timersText = JSON.stringify(timers);
    const data = `${HEAD}${timersText.length},"timers":${timersText},"journalBytes":${journal.length},"journal":${journal},${JSON.stringify(next).slice(1)}`;
    await compareAndSet(KEY, data, got.version);
    actor.stop();
  }

  const stored = () => split(store.get(KEY).data).rest;
  const first = stored();
  return {
    unit: 'steps/s',
    opsPerUnit: 1,
    observed: { n: first.snapshot.context.n, revision: first.revision },
    async run(n) {
      for (let i = 0; i < n; i++) await step();
    },
    check: () => {
      const r = stored();
      return { n: r.snapshot.context.n, revision: r.revision };
    }
  };
}
