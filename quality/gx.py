"""Great Expectations, imported without what we never use; once per process.

``import great_expectations`` costs ~5 s of CPU, over a third of it in two modules one
expectation needs at *call* time only: ``expect_column_kl_divergence_to_be_less_than``
imports ``scipy.stats`` (~1.8 s) and ``altair`` (~0.8 s) at its top to compute and plot
a divergence; every other expectation we run (``ExpectColumnValuesToBeInSet``) touches
neither. `load` installs a stand-in for each (`Deferred`) before importing GX: the
import binds the stand-in, and the real module is imported on first attribute read.

This survives a GX upgrade: if GX starts using either at import, the stand-in loads the
real module then (correct, just slower), and ``tests/quality/test_gx_import.py`` fails
loudly on the lost seconds. Nothing of GX is patched.

`load` is what the audit calls; a worker calls `preload` once before it forks its tasks
(``quality.gx_preload``), so an audit finds GX imported and warm. Importing this
module stays cheap: Airflow's DAG parser imports the quality package.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import sys
import threading
import types
from typing import Any

# Modules GX imports at its top for expectations we never run. Only leaves: a stand-in
# for a package would have to answer for its submodules' imports.
DEFERRED: tuple[str, ...] = ("scipy.stats", "altair")

_lock = threading.RLock()
log = logging.getLogger(__name__)


class Deferred(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is read."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        # The import system reads these from a module in sys.modules (``__spec__._initializing``,
        # a package's ``__path__``): set here, reading them does not load the real module.
        self.__spec__ = spec
        self.__file__ = spec.origin
        if spec.submodule_search_locations is not None:
            self.__path__ = list(spec.submodule_search_locations)

    def __getattr__(self, attribute: str) -> Any:
        """Called only for attributes the stand-in lacks: import the real module and read it there."""
        return getattr(_real(self.__name__), attribute)


def _real(name: str) -> types.ModuleType:
    with _lock:
        current = sys.modules.get(name)
        if not isinstance(current, Deferred):
            return current if current is not None else importlib.import_module(name)
        del sys.modules[name]  # so that importing finds and runs the real module
        try:
            return importlib.import_module(name)
        except BaseException:
            sys.modules.setdefault(name, current)  # a failed import leaves the stand-in as it was
            raise


def defer(name: str) -> None:
    """Put a stand-in for ``name`` in ``sys.modules`` unless it is imported already.

    Raises:
        ModuleNotFoundError: ``name`` is not installed (a stand-in must not hide that).
    """
    with _lock:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError(f"cannot defer {name}: it is not installed", name=name)
        sys.modules[name] = Deferred(spec)


def is_loaded(name: str) -> bool:
    """Whether the real ``name`` has been imported (not merely its stand-in)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, Deferred)


def load() -> types.ModuleType:
    """``great_expectations``, imported once per process with `DEFERRED` left for later."""
    if "great_expectations" in sys.modules:
        return sys.modules["great_expectations"]
    # Before the import: GX reads it when it loads. A register never phones home.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    with _lock:
        for name in DEFERRED:
            defer(name)
        import great_expectations

        return great_expectations


def preload() -> None:
    """What a worker runs once before it forks its tasks: GX imported, its validation path warm, the GC spared.

    ``gc.freeze`` moves every object alive now (GX's modules, classes and registries: ~200,000
    tracked objects that live as long as the process) out of the collector's reach, so that a full
    collection in a task does not walk them again (~0.15 s each) and a forked task does
    not copy their pages by touching their GC headers.
    """
    load()
    from quality.warm import warm_up

    try:
        warm_up()
    except Exception as exc:  # noqa: BLE001 - a worker that could not warm up still runs every other task
        # The class only, as the audit's own errors do; the audit itself will fail with its cause.
        log.warning("GX warm-up failed (%s): audits forked from this worker start cold", type(exc).__name__)
    gc.collect()
    gc.freeze()
