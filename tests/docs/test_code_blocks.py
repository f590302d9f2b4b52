"""Every ```python block in the docs and the README runs, or says why it cannot.

Each page's blocks run in order in one fresh namespace (a later block may use what an earlier one
defined), in a temporary working directory, with top-level ``await`` allowed (the blocks of one page
share one event loop). A block preceded by ``<!-- not run: REASON -->`` is not run; the reason is
required and the skipped blocks are counted, never silently dropped. ```sh blocks are not run.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*$")
NOT_RUN = re.compile(r"<!--\s*not run\b(?P<rest>.*?)-->", re.S)


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    not_run: str | None  # the reason, when marked <!-- not run: ... -->


def blocks_of(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang, start = match["indent"], match["lang"], i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        # The marker: the nearest non-blank text before the fence, if it is an HTML comment.
        before = "\n".join(lines[:start]).rstrip()
        marker = None
        if before.endswith("-->"):
            comment = before[before.rfind("<!--"):]
            found_marker = NOT_RUN.fullmatch(comment)
            if found_marker is not None:
                marker = found_marker["rest"].lstrip(" :").strip()
        code = textwrap.dedent("\n".join(line[len(indent):] if line.startswith(indent) else line for line in body))
        found.append(Block(page, start + 1, lang, code, marker))
    return found


def python_blocks(page: Path) -> list[Block]:
    return [b for b in blocks_of(page) if b.lang in ("python", "py")]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


PAGES_WITH_PYTHON = [p for p in PAGES if python_blocks(p)]


def test_the_docs_have_python_examples() -> None:
    assert len(PAGES_WITH_PYTHON) >= 10
    assert sum(len(python_blocks(p)) for p in PAGES) >= 15


def test_every_not_run_marker_gives_a_reason() -> None:
    skipped: list[str] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in NOT_RUN.finditer(text):
            reason = match["rest"].lstrip(" :").strip()
            where = f"{_page_id(page)}:{text[:match.start()].count(chr(10)) + 1}"
            assert len(reason) >= 8, f"{where}: a 'not run' marker needs a reason"
            skipped.append(where)
    # Each marker sits right before a python block (a marker elsewhere marks nothing).
    marked = [b for p in PAGES for b in python_blocks(p) if b.not_run is not None]
    assert len(marked) == len(skipped), (skipped, [f"{_page_id(b.page)}:{b.line}" for b in marked])


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=_page_id)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLE_XSTATE_STORE", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = documented_skips = 0
    with asyncio.Runner() as runner:
        for block in python_blocks(page):
            if block.not_run is not None:
                assert block.not_run, f"{_page_id(page)}:{block.line}: not run without a reason"
                documented_skips += 1
                continue
            where = f"{_page_id(page)}:{block.line}"
            try:
                code = compile(block.code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    runner.run(result)
            except Exception:
                pytest.fail(f"the example at {where} failed:\n{block.code}\n\n{traceback.format_exc()}")
            ran += 1
    assert ran + documented_skips == len(python_blocks(page))
    assert ran >= 1 or documented_skips >= 1
