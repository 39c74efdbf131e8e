"""Field precedence is data: schemas/precedence.yaml decides, and disagreements become conflicts."""

from __future__ import annotations

from datetime import datetime

from hub.pipeline.precedence import Stamp, decide, policies

POP, CIVIL = "national_population", "civil_status"
T1, T2 = datetime(2026, 1, 5), datetime(2026, 1, 9)


def test_policies_are_read_from_the_data_file() -> None:
    assert policies()["death_date"].sources[0] == CIVIL
    assert policies()["marital_status"].rule == "recency"


def test_civil_status_death_beats_a_newer_population_record_and_is_a_conflict() -> None:
    decision = decide("death_date", Stamp(CIVIL, T1), Stamp(POP, T2), differs=True)
    assert (decision.take_incoming, decision.conflict) == (False, True)


def test_civil_status_death_replaces_a_population_value_and_the_disagreement_is_kept() -> None:
    decision = decide("death_date", Stamp(POP, T1), Stamp(CIVIL, T2), differs=True)
    assert (decision.take_incoming, decision.conflict) == (True, True)


def test_civil_status_death_replacing_a_newer_population_value_is_a_conflict() -> None:
    decision = decide("death_date", Stamp(POP, T2), Stamp(CIVIL, T1), differs=True)
    assert (decision.take_incoming, decision.conflict) == (True, True)


def test_recency_fields_take_the_newest_word() -> None:
    assert decide("marital_status", Stamp(POP, T1), Stamp(CIVIL, T2), differs=True).take_incoming
    assert not decide("marital_status", Stamp(POP, T2), Stamp(CIVIL, T1), differs=True).take_incoming


def test_unlisted_fields_belong_to_the_population_database() -> None:
    assert not decide("full_name", Stamp(POP, T1), Stamp(CIVIL, T2), differs=True).take_incoming
    assert decide("full_name", Stamp(POP, T1), Stamp(POP, T2), differs=True).take_incoming


def test_agreement_is_never_a_conflict() -> None:
    decision = decide("death_date", Stamp(CIVIL, T1), Stamp(POP, T2), differs=False)
    assert not decision.conflict and not decision.take_incoming
