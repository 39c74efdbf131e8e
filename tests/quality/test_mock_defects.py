"""The contract with the mock: every injected defect is caught by its rule, clean records pass.

The records take the real path: the mock renders them as the SOAP feed does, the
declared stream's mapper maps them, the pipeline's staging row lands them; then the suite runs.
The mock's ground truth (id as delivered -> defect type) says what must fail.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree
from population_sync import STREAM, suite
from sqlalchemy import Engine, insert, select
from staged_citizens import RULE_FOR_DEFECT, RUN, rules_by_row

from connectors.declared.mapping import RecordMapper
from hub.pipeline.declared import find_stream
from hub.pipeline.staging import staging_row
from hub.store.tables import staging_citizen
from mocks.population.dataset import PopulationDataset
from mocks.population.render import list_changed_response
from quality.runner import validate_run
from schemas.population import NAMESPACE


def test_each_injected_defect_fails_its_rule_and_nothing_else_fails(engine: Engine) -> None:
    dataset = PopulationDataset.generate(citizens=600, seed=11, defect_rate=0.03)
    clock = max(version.ngay_cap_nhat for version in dataset.versions)
    page = etree.fromstring(list_changed_response(dataset.visible(clock), None))
    mapper = RecordMapper(find_stream(STREAM).stream)  # the declaration's mapping, as the sync uses it
    records = [mapper.from_xml(element) for element in page.iter(f"{{{NAMESPACE}}}CongDan")]
    fetched_at = datetime(2026, 3, 1)
    with engine.begin() as conn:
        conn.execute(insert(staging_citizen), [staging_row(RUN, 1, record, fetched_at) for record in records])
    as_of = datetime.fromtimestamp(clock, UTC).date()  # the mock's "today"

    validation = validate_run(engine, RUN, as_of, suite())

    truth = dict(dataset.defects)
    assert set(truth.values()) == set(RULE_FOR_DEFECT), "the sample should carry every defect type"
    with engine.connect() as conn:
        staged = conn.execute(select(staging_citizen.c.row_id, staging_citizen.c.personal_id)).all()
    expected = {row: {RULE_FOR_DEFECT[truth[pid]]} for row, pid in staged if pid in truth}
    assert rules_by_row(validation) == expected
