"""Adopting the original's records (``persistence.adopt``, ``durable-xstate import``) on the file store,
S3 and DynamoDB, with the records written exactly as the original writes them: a bare JSON file at
``<root>/<id>.json`` (``LocalFileStorageManager``: ``writeFileSync``), an object ``<prefix><id>.json``
(``S3StorageManager``: an unconditional ``putObject``), an item ``{path: "<id>.json", data, updatedAt}``
in a table with hash key ``path`` only, as the original's Terraform makes it (``DynamoStorageManager``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto_support import BUCKET, REGION
from typer.testing import CliRunner

from durable_xstate import PersistableActor, assign, create_actor, setup
from durable_xstate.cli import app
from durable_xstate.errors import UnusableSnapshot
from durable_xstate.persistence import StoredRecord, adopt, adopt_all
from durable_xstate.stores import LockableStorage, MemoryStore, Versioned, open_store

# the original's own test machine: a traffic light, count += 0.25 on every entry
LIGHT = setup(actions={"count": assign({"count": lambda a, p: a.context["count"] + 0.25})}).create_machine({
    "id": "light",
    "initial": "Green",
    "context": {"count": 0},
    "states": {
        "Green": {"entry": "count", "on": {"HALT": "Yellow"}},
        "Yellow": {"entry": "count", "on": {"HALT": "Red"}},
        "Red": {"entry": "count", "on": {"HALT": "Green"}},
    },
})

# what xstate 5.3.1's getPersistedSnapshot() gave the original (docs of the original, verified there)
YELLOW = '{"status":"active","value":"Yellow","historyValue":{},"context":{"count":0.25},"children":{}}'
RED_ERRORED = '{"status":"error","value":"Red","historyValue":{},"context":{"count":0.5},"children":{},"error":{}}'


def write_original_file(root: Path, actor_id: str, text: str) -> None:
    """The original's LocalFileStorageManager.write: mkdir -p, then writeFileSync of the bare JSON.
    (The one place that knows the file layout: adapt it if the file store's format changes.)"""
    path = root / f"{actor_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@dataclass
class Original:
    """A store the original wrote to: ``write`` as it writes, ``raw`` as it reads, ``url`` for us."""

    name: str
    url: str
    write: Callable[[str, str], None]
    raw: Callable[[str], bytes | None]

    def open(self) -> LockableStorage:
        return open_store(self.url)


def _file(tmp_path: Path) -> Original:
    root = tmp_path / "original"
    root.mkdir()

    def raw(actor_id: str) -> bytes | None:
        path = root / f"{actor_id}.json"
        return path.read_bytes() if path.exists() else None

    return Original("file", f"file://{root}", lambda i, t: write_original_file(root, i, t), raw)


def _s3(endpoint: str) -> Original:
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    prefix = f"o{uuid.uuid4().hex[:10]}/"  # the original's prefix rule: 'path/to/folder/'

    def write(actor_id: str, text: str) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{actor_id}.json", Body=text.encode("utf-8"))

    def raw(actor_id: str) -> bytes | None:
        try:
            body: bytes = client.get_object(Bucket=BUCKET, Key=f"{prefix}{actor_id}.json")["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
        return body

    return Original("s3", f"s3://{BUCKET}/{prefix}?endpoint_url={endpoint}&region={REGION}", write, raw)


def _dynamodb(endpoint: str) -> Original:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    table = f"original-{uuid.uuid4().hex[:10]}"
    client.create_table(  # the original's table: hash key `path`, nothing else
        TableName=table, KeySchema=[{"AttributeName": "path", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "path", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )

    def write(actor_id: str, text: str) -> None:  # put({Item: {...appendPreWrite, path, data, updatedAt}})
        client.put_item(TableName=table, Item={
            "path": {"S": f"{actor_id}.json"}, "data": {"S": text}, "updatedAt": {"N": str(int(time.time()))},
            "stage": {"S": "prod"},  # an appendPreWrite extra, as xorca's appendPreWriter adds
        })

    def raw(actor_id: str) -> bytes | None:
        item = client.get_item(TableName=table, Key={"path": {"S": f"{actor_id}.json"}}, ConsistentRead=True).get("Item")
        return None if item is None else str(item["data"]["S"]).encode("utf-8")

    return Original("dynamodb", f"dynamodb://{table}?endpoint_url={endpoint}&region={REGION}", write, raw)


@pytest.fixture(params=["file", "s3", "dynamodb"])
def original(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Original]:
    if request.param == "file":
        yield _file(tmp_path)
    else:
        endpoint: str = request.getfixturevalue("moto_server")
        yield (_s3 if request.param == "s3" else _dynamodb)(endpoint)


def _creator(actor_id: str, snapshot: Any) -> Any:
    return create_actor(LIGHT, id=actor_id, snapshot=snapshot)


async def _record(store: LockableStorage, actor_id: str) -> StoredRecord:
    stored = await store.read(f"{actor_id}.json")
    assert stored is not None
    return StoredRecord.decode(stored.data, key=f"{actor_id}.json", version=stored.version)


async def test_the_originals_records_become_revision_0_and_run_on(original: Original) -> None:
    original.write("wp-saad", YELLOW)
    original.write("fleet/7/light", RED_ERRORED)  # an id with '/': nested directories or keys
    store = original.open()
    try:
        outcomes = await adopt_all(store, machine=LIGHT)
        assert [(o.id, o.outcome) for o in outcomes] == [("fleet/7/light", "adopted"), ("wp-saad", "adopted")]
        for actor_id, text in (("wp-saad", YELLOW), ("fleet/7/light", RED_ERRORED)):
            record = await _record(store, actor_id)
            assert record.revision == 0 and record.id == actor_id
            assert record.snapshot == json.loads(text)  # xstate's snapshot, untouched
            assert (record.machine_id, record.machine_version) == ("light", None)
        pa = PersistableActor(id="wp-saad", storage=store, actor_creator=_creator)
        actor = await pa.init()
        assert actor.get_snapshot().value == "Yellow" and actor.get_snapshot().context == {"count": 0.25}
        actor.send({"type": "HALT"})
        await pa.save()
        await pa.close()
        record = await _record(store, "wp-saad")
        assert record.revision == 1 and record.snapshot is not None
        assert record.snapshot["value"] == "Red" and record.snapshot["context"] == {"count": 0.5}
        again = await adopt_all(store, machine=LIGHT)
        assert {o.outcome for o in again} == {"already"}
    finally:
        await store.close()


async def test_one_bad_item_never_stops_the_others(original: Original) -> None:
    bad = {
        "b-not-json": '{"status":"active","value":',
        "c-array": "[1, 2]",
        "d-no-status": '{"value":"Green","context":{}}',
        "e-unknown-state": YELLOW.replace('"Yellow"', '"Purple"'),
        "f-other-format": '{"format":"something/2","snapshot":{}}',
    }
    original.write("a-good", YELLOW)
    for actor_id, text in bad.items():
        original.write(actor_id, text)
    store = original.open()
    try:
        pa = PersistableActor(id="g-ours", storage=store, actor_creator=_creator)
        await pa.init()
        await pa.save()
        await pa.close()
        outcomes = {o.id: o for o in await adopt_all(store, machine=LIGHT)}
    finally:
        await store.close()
    assert {i: o.outcome for i, o in outcomes.items()} == {
        "a-good": "adopted", **dict.fromkeys(bad, "unusable"), "g-ours": "already",
    }
    assert "Purple" in (outcomes["e-unknown-state"].reason or "")
    assert isinstance(outcomes["e-unknown-state"].error, UnusableSnapshot)
    assert "status" in (outcomes["d-no-status"].reason or "")
    assert "not a JSON record" in (outcomes["b-not-json"].reason or "")
    for actor_id, text in bad.items():  # left exactly as the original wrote them
        assert original.raw(actor_id) == text.encode("utf-8")


class _Interloper(LockableStorage):
    """A store where the original writes the value again right after we read it."""

    def __init__(self, inner: LockableStorage, then: Callable[[], None]) -> None:
        super().__init__(inner.storage, inner.lock)
        self.then = then

    async def read(self, key: str) -> Versioned | None:
        got = await super().read(key)
        self.then()
        return got


async def test_a_concurrent_write_of_the_original_is_never_overwritten(original: Original) -> None:
    newer = YELLOW.replace('"Yellow"', '"Red"').replace("0.25", "0.5")
    original.write("wp-saad", YELLOW)
    store = original.open()
    try:
        raced = await adopt(_Interloper(store, lambda: original.write("wp-saad", newer)), "wp-saad", machine=LIGHT)
        assert raced.outcome == "conflict" and not raced.ok
        assert original.raw("wp-saad") == newer.encode()  # the original's write stands
        retried = await adopt(store, "wp-saad", machine=LIGHT)
        assert retried.outcome == "adopted"
        record = await _record(store, "wp-saad")
        assert record.snapshot == json.loads(newer)
    finally:
        await store.close()


async def test_a_dry_run_writes_nothing(original: Original) -> None:
    original.write("wp-saad", YELLOW)
    store = original.open()
    try:
        outcomes = await adopt_all(store, machine=LIGHT, dry_run=True)
        assert [(o.id, o.outcome) for o in outcomes] == [("wp-saad", "would-adopt")]
        assert (await adopt(store, "nobody")).outcome == "missing"
    finally:
        await store.close()
    assert original.raw("wp-saad") == YELLOW.encode()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
_SNAPSHOTISH = st.fixed_dictionaries(
    {"status": st.sampled_from(["active", "done", "error", "stopped", "running"]),
     "value": st.sampled_from(["Green", "Yellow", "Purple", {"a": "b"}])},
    optional={"context": _JSON, "children": st.just({}), "historyValue": st.just({})},
)


@settings(max_examples=60)
@given(content=st.one_of(_JSON.map(lambda v: json.dumps(v).encode()), _SNAPSHOTISH.map(lambda v: json.dumps(v).encode()),
                         st.binary(max_size=40)),
       with_machine=st.booleans())
async def test_adopting_any_stored_value_adopts_a_snapshot_or_leaves_it_untouched(
    content: bytes, with_machine: bool
) -> None:
    store = LockableStorage(MemoryStore())
    await store.write("x.json", content)
    outcome = await adopt(store, "x", machine=LIGHT if with_machine else None)
    stored = await store.read("x.json")
    assert stored is not None
    assert outcome.outcome in ("adopted", "unusable")
    if outcome.outcome == "unusable":
        assert stored.data == content and outcome.reason
    else:
        record = StoredRecord.decode(stored.data, key="x.json", version=stored.version)
        assert record.snapshot == json.loads(content) and record.revision == 0
        assert record.snapshot is not None and record.snapshot["status"] in ("active", "done", "error", "stopped")
        if with_machine:
            assert record.snapshot["value"] in ("Green", "Yellow")


# ---------------------------------------------------------------------------------------------- the command
LIGHT_JSON = json.dumps({"id": "light", "initial": "Green", "states": {
    "Green": {"on": {"HALT": "Yellow"}}, "Yellow": {"on": {"HALT": "Red"}}, "Red": {"on": {"HALT": "Green"}}}})


def test_the_import_command_reports_each_id(tmp_path: Path) -> None:
    original = _file(tmp_path)
    original.write("wp-saad", YELLOW)
    original.write("broken", "{oops")
    original.write("purple", YELLOW.replace('"Yellow"', '"Purple"'))
    machine = tmp_path / "light.json"
    machine.write_text(LIGHT_JSON)
    runner = CliRunner()

    dry = runner.invoke(app, ["import", "--store", original.url, "--machine", str(machine), "--dry-run"])
    assert dry.exit_code == 1, dry.output  # some cannot be adopted
    lines = dry.output.splitlines()
    assert any(line.startswith("would-adopt") and "wp-saad" in line for line in lines), dry.output
    assert any(line.startswith("unusable") and "purple" in line and "Purple" in line for line in lines), dry.output
    assert "dry run: nothing written" in dry.output
    assert original.raw("wp-saad") == YELLOW.encode()

    one = runner.invoke(app, ["import", "wp-saad", "--store", original.url, "--machine", str(machine)])
    assert one.exit_code == 0, one.output
    assert one.output.startswith("adopted") and "1 adopted" in one.output

    listed = runner.invoke(app, ["import", "--store", original.url, "--json"])
    assert listed.exit_code == 1
    rows = {row["id"]: row for row in map(json.loads, listed.output.splitlines())}
    assert rows["wp-saad"]["outcome"] == "already" and rows["broken"]["outcome"] == "unusable"
    assert rows["purple"]["outcome"] == "adopted"  # without --machine: any snapshot-shaped value

    shown = runner.invoke(app, ["show", "wp-saad", "--store", original.url])
    assert shown.exit_code == 0 and "Yellow" in shown.output and "revision  0" in shown.output


def test_the_import_command_refuses_ids_with_a_prefix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", "a", "--prefix", "b", "--store", f"file://{tmp_path}"])
    assert result.exit_code == 1 and "not both" in result.output
