"""The population stream's stages, as the tests call them: the declared stream ``national_population.citizens``.

The flow is declared (config/systems/national_population.yaml) and runs through
``hub.pipeline.declared``; the ``mock_server`` fixture points its Airflow connection at the mock.
"""

from __future__ import annotations

from functools import partial

from hub.pipeline import declared
from quality.verdicts import Suite

STREAM = "national_population.citizens"
DAG_ID = "national_population_sync"

extract = partial(declared.extract, stream=STREAM)
audit = partial(declared.audit, stream=STREAM)
publish = partial(declared.publish, stream=STREAM)
sync = partial(declared.sync, stream=STREAM)


def suite() -> Suite:
    """The citizen suite, compiled from the declaration's rules."""
    return declared.spec_for(declared.find_stream(STREAM)).suite


def rule_names() -> tuple[str, ...]:
    """The citizen suite's rule names, in suite order."""
    return suite().rule_names()
