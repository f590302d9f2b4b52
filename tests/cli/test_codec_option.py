"""``--codec`` (or $DURABLE_XSTATE_CODEC) before the command: every store the command opens reads and
writes its records through those codecs, so an encrypted store is usable from the command line."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from durable_xstate.cli import app

ORDER = "durable_xstate.examples.order:machine"
KEY = base64.b64encode(os.urandom(32)).decode()


def test_an_encrypted_store_is_written_and_read_through_the_codec_option(tmp_path: Path) -> None:
    runner = CliRunner()
    store = f"file://{tmp_path / 'store'}"
    env = {"DURABLE_XSTATE_KEY": KEY}
    sent = runner.invoke(app, ["--codec", "gzip,aes-gcm", "send", ORDER, "o-1", "ADD_ITEM", "--data",
                               '{"sku": "secret-sku", "price": 5}', "--store", store], env=env)
    assert sent.exit_code == 0, sent.output
    stored = (tmp_path / "store" / "o-1.json").read_bytes()
    assert b"secret-sku" not in stored  # encrypted at rest
    shown = runner.invoke(app, ["--codec", "gzip,aes-gcm", "show", "o-1", "--store", store, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["snapshot"]["context"]["items"][0]["sku"] == "secret-sku"
    via_env = runner.invoke(app, ["list", "--store", store, "--json"],
                            env={**env, "DURABLE_XSTATE_CODEC": "gzip,aes-gcm"})
    assert via_env.exit_code == 0 and json.loads(via_env.output)[0]["id"] == "o-1"
    plain = runner.invoke(app, ["show", "o-1", "--store", store], env=env)  # without the codec: one line
    assert plain.exit_code == 1 and "CodecError" in plain.output and "Traceback" not in plain.output
    assert (tmp_path / "store" / "o-1.json").read_bytes() == stored  # and nothing was changed


def test_an_unknown_codec_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--codec", "rot13", "list", "--store", f"file://{tmp_path}"])
    assert result.exit_code == 1 and "unknown record codec 'rot13'" in result.output
