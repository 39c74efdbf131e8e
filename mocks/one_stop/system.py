"""The one-stop system's state: its data set, generated on first use, and its routing desk.

Generation waits for the first request (or the first look at the ground truth), so a
mock server started only for another system does not pay for 20,000 dossiers.
"""

from __future__ import annotations

import threading

from starlette.concurrency import run_in_threadpool

from mocks.one_stop.dataset import OneStopDataset
from mocks.one_stop.routing import RoutingDesk
from mocks.population.dataset import PopulationDataset
from mocks.settings import MockSettings


class OneStopSystem:
    """Dossiers and routing over one population; both built once, on first use, safely across threads."""

    def __init__(self, population: PopulationDataset, settings: MockSettings) -> None:
        """Serve dossiers filed by residents of ``population`` as ``settings`` describe."""
        self._population, self._settings = population, settings
        self._built: tuple[OneStopDataset, RoutingDesk] | None = None
        self._lock = threading.Lock()

    def _build(self) -> tuple[OneStopDataset, RoutingDesk]:
        with self._lock:
            if self._built is None:
                settings = self._settings
                dataset = OneStopDataset.generate(
                    self._population,
                    settings.one_stop_dossiers,
                    settings.seed,
                    settings.one_stop_defect_rate,
                    settings.feed_days,
                    settings.one_stop_province,
                )
                self._built = dataset, RoutingDesk(dataset)
            return self._built

    @property
    def dataset(self) -> OneStopDataset:
        """The dossiers and the ground truth (`defects`, `routing`), generated on first use.

        Raises:
            ValueError: the settings ask for the impossible (see `OneStopDataset.generate`).
        """
        return self._build()[0]

    @property
    def routing(self) -> RoutingDesk:
        """Transfers between units, over `dataset`."""
        return self._build()[1]

    async def ready(self) -> tuple[OneStopDataset, RoutingDesk]:
        """Both, generated off the event loop the first time so other requests are still served."""
        built = self._built
        return built if built is not None else await run_in_threadpool(self._build)
