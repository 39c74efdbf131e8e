"""GX is imported without the modules only unused expectations need, and they still load when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from quality.gx import defer

PROJECT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_loading_gx_leaves_scipy_stats_and_altair_unimported() -> None:
    # Fails when a GX upgrade starts using one of them at import: the seconds came back.
    probe = (
        "import sys, quality.gx as g; g.load(); "
        "print('great_expectations' in sys.modules, [n for n in g.DEFERRED if g.is_loaded(n)])"
    )
    assert _run(probe) == "True []"


def test_a_deferred_module_is_the_real_one_once_used() -> None:
    probe = (
        "import sys, quality.gx as g; g.load(); "
        "from scipy import stats; import altair as alt; "
        "print(round(float(stats.entropy([0.5, 0.5], [0.25, 0.75])), 4), alt.Chart.__name__, "
        "all(g.is_loaded(n) for n in g.DEFERRED), type(sys.modules['scipy.stats']).__name__)"
    )
    assert _run(probe) == "0.1438 Chart True module"


def test_the_audit_suite_builds_on_the_cheap_import() -> None:
    probe = (
        "import sys; sys.path.insert(0, 'tests'); import quality.gx as g; from population_sync import suite; "
        "g.load().get_context(mode='ephemeral'); "
        "built = suite().build(); print(len(built.expectations) > 0, [n for n in g.DEFERRED if g.is_loaded(n)])"
    )
    assert _run(probe) == "True []"


def test_a_missing_module_is_not_hidden_behind_a_stand_in() -> None:
    with pytest.raises(ModuleNotFoundError, match="not installed"):
        defer("lgsp_no_such_module_anywhere")


def test_preload_leaves_gx_warm_frozen_and_no_scratch_behind(tmp_path: Path) -> None:
    probe = (
        "import gc, os, sys, tempfile, quality.gx as g; "
        f"tempfile.tempdir = {str(tmp_path)!r}; "
        "g.preload(); "
        "print('great_expectations' in sys.modules, gc.get_freeze_count() > 100_000, "
        "[n for n in g.DEFERRED if g.is_loaded(n)], os.listdir(tempfile.gettempdir()))"
    )
    assert _run(probe) == "True True [] []"


def test_a_failed_warm_up_is_a_warning_not_a_dead_worker() -> None:
    # A forkserver or Celery worker whose preload raised would start no task at all.
    probe = (
        "import gc, logging, quality.warm, quality.gx as g; logging.basicConfig(); "
        "quality.warm.warm_up = lambda: 1 / 0; g.preload(); print(gc.get_freeze_count() > 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
    assert "GX warm-up failed (ZeroDivisionError)" in done.stderr
