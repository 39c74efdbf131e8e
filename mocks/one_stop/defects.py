"""Defect injection: each defective dossier breaks exactly one rule, of a known type.

Defects go to dossiers that need no routing, so a routing test never trips over one.
The ground truth is MaHoSo -> type. Rules a clean dossier satisfies (and the one its
defect breaks):

    unknown_procedure        MaThuTuc is in the procedure catalogue
    malformed_applicant_id   SoDinhDanh is 12 digits (and names a resident)
    due_before_received      HanXuLy = NgayTiepNhan + the procedure's days
    history_out_of_order     LichSu is in time order, statuses rising, its last entry = (TrangThai, NgayCapNhat)
    duplicate_conflict       one record per MaHoSo (the defect: two, same NgayCapNhat, different KenhNop)

An out-of-order history is served newest first; such a dossier is taken into
processing the second it is received, so it never shows a one-entry history, which
could not be out of order.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mocks.one_stop.record import DEFECT_TYPES, IN_PERSON, ONLINE, DefectType, Event, HoSo
from schemas.procedures import load_catalogue

_UNKNOWN_CODES = ("TT-ZZ-01", "TT-KS-99", "TT-XX-07", "TTHC-001")
Mutation = Callable[[random.Random, HoSo, list[Event]], HoSo]


def inject_defects(
    rng: random.Random, dossiers: list[HoSo], events: list[list[Event]], routing: dict[str, str], rate: float
) -> dict[str, DefectType]:
    """Corrupt ``round(len(dossiers) * rate)`` dossiers in place, types spread evenly; return the truth.

    A duplicate_conflict appends its second record to ``dossiers`` (and its events).

    Raises:
        ValueError: the rate asks for more defects than there are dossiers to carry them.
    """
    count = round(len(dossiers) * rate)
    candidates = [index for index, dossier in enumerate(dossiers) if dossier.ma_ho_so not in routing]
    if count > len(candidates):
        raise ValueError("one_stop_defect_rate asks for more defects than there are dossiers to carry them")
    truth: dict[str, DefectType] = {}
    for number, index in enumerate(rng.sample(candidates, count)):
        kind = DEFECT_TYPES[number % len(DEFECT_TYPES)]
        dossiers[index] = _MUTATIONS[kind](rng, dossiers[index], events[index])
        truth[dossiers[index].ma_ho_so] = kind
        if kind == "duplicate_conflict":
            other_channel = IN_PERSON if dossiers[index].kenh_nop == ONLINE else ONLINE
            dossiers.append(dossiers[index]._replace(kenh_nop=other_channel, copy=1))
            events.append(list(events[index]))
    return truth


def _unknown_procedure(rng: random.Random, dossier: HoSo, events: list[Event]) -> HoSo:
    known = load_catalogue()
    return dossier._replace(ma_thu_tuc=rng.choice([code for code in _UNKNOWN_CODES if code not in known]))


def _malformed_applicant_id(rng: random.Random, dossier: HoSo, events: list[Event]) -> HoSo:
    pid = dossier.so_dinh_danh
    variants = (pid[:-1], pid + str(rng.randrange(10)), pid[:5] + "O" + pid[6:], pid[:6] + " " + pid[6:])
    return dossier._replace(so_dinh_danh=rng.choice(variants))


def _due_before_received(rng: random.Random, dossier: HoSo, events: list[Event]) -> HoSo:
    # A sign error: the allowed time subtracted instead of added.
    return dossier._replace(han_xu_ly=2 * dossier.ngay_tiep_nhan - dossier.han_xu_ly)


def _history_out_of_order(rng: random.Random, dossier: HoSo, events: list[Event]) -> HoSo:
    events[1] = events[1]._replace(thoi_diem=events[0].thoi_diem)  # see the module docstring
    return dossier


def _duplicate_conflict(rng: random.Random, dossier: HoSo, events: list[Event]) -> HoSo:
    return dossier  # the conflicting second record is appended by inject_defects


_MUTATIONS: dict[DefectType, Mutation] = {
    "unknown_procedure": _unknown_procedure,
    "malformed_applicant_id": _malformed_applicant_id,
    "due_before_received": _due_before_received,
    "history_out_of_order": _history_out_of_order,
    "duplicate_conflict": _duplicate_conflict,
}
