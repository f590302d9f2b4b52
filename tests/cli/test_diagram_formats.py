"""``durable-xstate diagram --format mermaid|dot|svg|png``: the Mermaid text stays as it was; SVG and PNG
are drawn by Graphviz's ``dot`` (Debian's graphviz package, installed by scripts/test) from the DOT text
of ``durable_xstate.diagram_dot``, with the actor's active states highlighted."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import ORDER, ok, run
from typer.testing import CliRunner

from durable_xstate import create_machine
from durable_xstate.diagram import to_mermaid
from durable_xstate.diagram_dot import ACTIVE_BORDER, ACTIVE_FILL, render_dot, to_dot
from durable_xstate.errors import DiagramRenderError
from durable_xstate.examples.order import machine as order_machine

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_graphviz_is_installed() -> None:
    assert shutil.which("dot"), "scripts/test installs Debian's graphviz package; the SVG and PNG tests need dot"


def shapes(svg: str) -> dict[str, list[dict[str, Any]]]:
    """Label text -> the nodes and clusters drawn with it: their kind and the fill/stroke of their shape."""
    root = ET.fromstring(svg)
    found: dict[str, list[dict[str, Any]]] = {}
    for group in root.iter(f"{SVG}g"):
        kind = (group.get("class") or "").split()
        if "node" not in kind and "cluster" not in kind:
            continue
        shape = next((e for e in group.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse")), None)
        for text in group.iter(f"{SVG}text"):
            found.setdefault(text.text or "", []).append({
                "kind": "node" if "node" in kind else "cluster",
                "fill": shape.get("fill") if shape is not None else None,
                "stroke": shape.get("stroke") if shape is not None else None,
            })
    return found


def state_names(machine: Any) -> set[str]:
    return {node.key for node in machine.id_map.values() if node.parent is not None}


# ---------------------------------------------------------------------------------------------- mermaid
def test_mermaid_stays_the_default_and_unchanged(runner: CliRunner) -> None:
    assert ok(runner, "diagram", ORDER) == to_mermaid(order_machine)
    assert ok(runner, "diagram", ORDER, "--format", "mermaid") == to_mermaid(order_machine)
    assert ok(runner, "diagram", ORDER, "--markdown") == f"```mermaid\n{to_mermaid(order_machine)}```\n"


# ---------------------------------------------------------------------------------------------- svg
def test_svg_has_every_state_and_highlights_the_active_ones(runner: CliRunner, store: str) -> None:
    for event in ("ADD_ITEM", "CHECKOUT", "PAY"):
        ok(runner, "send", ORDER, "o1", event, "--data", '{"sku": "a", "price": 3, "amount": 3}', "--store", store)
    svg = ok(runner, "diagram", ORDER, "o1", "--format", "svg", "--store", store)
    found = shapes(svg)
    for name in state_names(order_machine) - {"resume"}:
        assert name in found or f"{name} (parallel)" in found, name
    assert "H*" in found and "resume" in found  # the deep history state: H* in its circle, its name beside
    for leaf in ("picking", "drafting"):  # the active leaves: filled like Mermaid's classDef active
        assert [s["fill"] for s in found[leaf]] == [ACTIVE_FILL] and found[leaf][0]["stroke"] == ACTIVE_BORDER
    for region in ("packing", "invoicing", "fulfilment (parallel)"):  # the active compound states: their border
        assert [s["stroke"] for s in found[region]] == [ACTIVE_BORDER], region
    for other in ("cart", "awaitingPayment", "packed", "sent", "shipping", "cancelled"):
        assert all(s["fill"] != ACTIVE_FILL and s["stroke"] != ACTIVE_BORDER for s in found[other]), other
    assert 'stroke-dasharray' in svg  # the parallel regions are dashed


def test_svg_without_an_actor_highlights_nothing(runner: CliRunner) -> None:
    svg = ok(runner, "diagram", ORDER, "--format", "svg")
    assert ACTIVE_FILL not in svg and ACTIVE_BORDER not in svg
    assert state_names(order_machine) - {"resume"} <= {n.removesuffix(" (parallel)") for n in shapes(svg)}


def test_svg_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "order.svg"
    assert ok(runner, "diagram", ORDER, "--format", "svg", "--output", str(target)) == ""
    ET.fromstring(target.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- png, dot
def test_png_needs_an_output_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "order.png"
    ok(runner, "diagram", ORDER, "--format", "png", "-o", str(target))
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    result = run(runner, "diagram", ORDER, "--format", "png")
    assert result.exit_code == 1 and "give --output FILE" in result.stderr and result.stdout == ""


def test_dot_text(runner: CliRunner) -> None:
    text = ok(runner, "diagram", ORDER, "--format", "dot")
    assert text == to_dot(order_machine) and text.startswith('digraph "order" {')
    assert "subgraph cluster_s_fulfilment {" in text and 'label="after paymentTimeout"' in text


def test_markdown_is_for_mermaid_only(runner: CliRunner) -> None:
    result = run(runner, "diagram", ORDER, "--format", "svg", "--markdown")
    assert result.exit_code == 1 and "--markdown wraps the Mermaid text" in result.stderr


def test_delays_are_durations_in_the_drawing() -> None:
    machine = create_machine({"id": "t", "initial": "a", "states": {"a": {"after": {900000: "b"}}, "b": {}}})
    assert 'label="after 15m"' in to_dot(machine)


# ---------------------------------------------------------------------------------------------- no dot
def test_without_graphviz_the_error_says_what_to_install(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot there
    with pytest.raises(DiagramRenderError, match="apt-get install graphviz"):
        render_dot(to_dot(order_machine), "svg")
    result = run(runner, "diagram", ORDER, "--format", "svg")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DiagramRenderError" in lines[0] and "--format mermaid" in lines[0]
    assert ok(runner, "diagram", ORDER) == to_mermaid(order_machine)  # the Mermaid text needs nothing


def test_a_failing_dot_is_reported() -> None:
    with pytest.raises(DiagramRenderError, match="dot failed"):
        render_dot("digraph { this is not dot", "svg")
    with pytest.raises(DiagramRenderError, match="unknown image format"):
        render_dot("digraph {}", "gif")


# ---------------------------------------------------------------------------------------------- any names
NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=".#"),
                min_size=1, max_size=12).filter(lambda s: s.strip() == s and s.strip() != "")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(NAMES, min_size=2, max_size=5, unique=True), inner=st.lists(NAMES, min_size=1, max_size=3,
                                                                                  unique=True))
def test_any_state_names_render_as_themselves(names: list[str], inner: list[str]) -> None:
    """Quotes, backslashes, '<', '&', non-Latin letters: the SVG parses and shows each name as written."""
    first, *rest = names  # targets by id ("#s0"): a key may hold what a target string would read as syntax
    states: dict[str, Any] = {first: {"id": "s0", "initial": inner[0], "states": {n: {} for n in inner},
                                      "on": {"GO": "#s1"}}}
    states.update({n: {"id": f"s{i}", "on": {"BACK": "#s0"}} for i, n in enumerate(rest, start=1)})
    machine = create_machine({"id": "m", "initial": first, "states": states})
    snapshot = machine.resolve_state({first: inner[0]})
    svg = render_dot(to_dot(machine, snapshot.nodes), "svg").decode("utf-8")
    found = shapes(svg)
    for name in [*names, *inner]:
        shown = " ".join(name.split())
        assert shown in found, (name, sorted(found))
    assert any(s["fill"] == ACTIVE_FILL for s in found[" ".join(inner[0].split())])
