"""Every ```python block of README.md and docs/*.md runs, and so does every script in docs/examples.

Blocks of one page run in order in one fresh interpreter (a block may use what an
earlier block of its page defined, as a reader following the page would), in a
temporary folder, with matplotlib's Agg backend. A block that is deliberately not
runnable is marked in the page by an HTML comment on the line right before it,
``<!-- docs-test: skip (reason) -->``, and listed in ``SKIPPED`` below with the same
reason: a block cannot leave the test without both.

The ``docs-examples`` nox session installs what the blocks import: ``lyapax-rnn[examples]``
(every backend, Lightning, optax, matplotlib, pandas) and TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SCRIPTS = sorted((ROOT / "docs" / "examples").glob("*.py"))

#: (page, first line of the block) -> why it does not run. Keep in step with the pages' markers.
SKIPPED: dict[tuple[str, str], str] = {
    ("docs/monitoring.md", "import functools"):
        "an excerpt of docs/examples/jax_optax_monitor.py, which the test suite runs in full",
    ("docs/readout.md", 'from lyapax.readout import QUICK, run_study'):
        'trains the whole --quick study and needs a Ray cluster at that address; the sweeps session tests both calls',
    ("docs/readout.md", 'from lyapax.integrations import InstabilityRule'):
        "an excerpt: `spectrum` is the user's; tests/sweeps exercise the rule",
    ("docs/readout.md", 'import lyapax, optuna'):
        "an excerpt: build, train_one_epoch and probe_batch are the user's; benchmarks/bench_pruning.py is the complete example and tests/sweeps run the pruner",
    ("docs/readout.md", 'study = create_study(study_name="lstm-search",'):
        'needs a PostgreSQL server; tests/sweeps check the storage errors',
    ("docs/readout.md", 'from ray import tune'):
        "an excerpt: build, train_one_epoch, probe_batch and space are the user's; tests/sweeps run the stopper in a real Tuner",
}

_FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<why>.+)\)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the marker's reason, if marked

    @property
    def first_line(self) -> str:
        return next((s for s in self.code.splitlines() if s.strip()), "")

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The ```python blocks of a markdown page (an info string starting with python or py)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m["fence"], m["info"].strip(), i
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and not lines[i].strip().strip(fence[0])):
            body.append(lines[i][len(m["indent"]):])
            i += 1
        i += 1
        language = info.split()[0].lstrip("{.").lower() if info else ""
        if language not in ("python", "py"):
            continue
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.match(before)
        out.append(Block(str(path.relative_to(ROOT)), start + 1, "\n".join(body) + "\n",
                         marker["why"].strip() if marker else None))
    return out


ALL = [b for page in PAGES for b in blocks(page)]
RUN_PAGES = sorted({b.page for b in ALL if b.skip is None})

# Runs the blocks given as JSON [[label, code], ...] in one namespace; names the failing block.
_RUNNER = """
import json, sys, traceback
ns = {"__name__": "__main__"}
for label, code in json.load(open(sys.argv[1], encoding="utf-8")):
    try:
        exec(compile(code, label, "exec"), ns)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"docs block {label} failed")
    try:
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass
"""


def _env() -> dict[str, str]:
    # W&B offline: the monitoring page's W&B block writes its run under the block's temporary folder
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="2", WANDB_MODE="offline",
               WANDB_SILENT="true")
    env.pop("PYTHONPATH", None)
    return env


def test_blocks_found():
    assert len(ALL) >= 30 and "README.md" in RUN_PAGES, [b.label for b in ALL]


def test_skipped_blocks_are_listed_with_their_reason():
    marked = {(b.page, b.first_line): b.skip for b in ALL if b.skip is not None}
    assert marked == SKIPPED, (
        "a block marked <!-- docs-test: skip (reason) --> in a page must be in SKIPPED with the same reason, "
        "and every entry of SKIPPED must still be marked"
    )


@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_blocks_run(page, tmp_path):
    todo = [(b.label, b.code) for b in ALL if b.page == page and b.skip is None]
    for label, code in todo:
        compile(code, label, "exec")  # a syntax error is reported without starting an interpreter
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps(todo), encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", _RUNNER, str(spec)], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"{page}: {run.stderr[-6000:]}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_script_runs(script, tmp_path):
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, f"{script.name}: {run.stderr[-6000:]}"
