"""Cross-boundary routing: the provincial centre hands a commune-level dossier to the competent commune.

    POST inbox   the dossier becomes ChuyenXuLy at the commune (MaDonViXuLy = the commune)
    (1-3 days)   the commune decides: ChapThuan or TuChoi, listed in its results from then on
    POST returns the receiving unit records the result: CoKetQua (or TuChoi); an approved
                 dossier reaches DaTraKetQua by itself hours to days later

MaDonViXuLy stays the commune after the result comes back: it is the unit that decided.
Errors carry no request data (no MaHoSo, no personal id): only what is wrong.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mocks.one_stop.dataset import OneStopDataset
from mocks.one_stop.record import Event
from mocks.one_stop.statuses import APPROVED, PROCESSING, REJECTED, RESULT, RETURNED, ROUTED
from mocks.one_stop.timeline import commune_decision, handover_delay


class RoutingError(Exception):
    """A routing request the system refuses: HTTP ``status`` and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        """Refuse with ``status`` (404 or 409) because of ``reason``."""
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(slots=True)
class Transfer:
    """One dossier sent to a commune, and the commune's decision (visible from ``decided_at``)."""

    ma_chuyen: str
    ma_ho_so: str
    index: int  # the record in the data set
    commune: str
    routed_at: int
    decided_at: int
    ket_qua: str
    returned: bool = False


class RoutingDesk:
    """Transfers between units over one data set; times are the mock clock's."""

    def __init__(self, dataset: OneStopDataset) -> None:
        """Route dossiers of ``dataset`` (its routing ground truth says which and where)."""
        self._dataset = dataset
        self._transfers: dict[str, Transfer] = {}
        self._by_dossier: dict[str, Transfer] = {}
        self._by_commune: dict[str, list[Transfer]] = {}
        self._lock = threading.Lock()

    def route(self, ma_ho_so: str, commune: str, sender: str, now: int) -> Transfer:
        """Send the dossier to ``commune``'s inbox.

        Raises:
            RoutingError: 404 unknown (or not yet received) dossier; 409 not routable now,
                not sent by its receiving unit, or not the competent commune.
        """
        with self._lock:
            index = self._current_index(ma_ho_so, now)
            latest = self._dataset.latest(index, now)
            competent = self._dataset.routing.get(ma_ho_so)
            if competent is None or ma_ho_so in self._by_dossier or latest is None or latest.trang_thai != PROCESSING:
                raise RoutingError(409, "the dossier is not waiting to be routed")
            if sender != self._dataset.record(index).ma_don_vi_tiep_nhan:
                raise RoutingError(409, "MaDonViGui is not the unit that received the dossier")
            if commune != competent:
                raise RoutingError(409, "the unit is not the competent commune (the applicant's residence)")
            decided_at, ket_qua = commune_decision(self._dataset.seed, ma_ho_so, now)
            transfer = Transfer(f"CX{len(self._transfers) + 1:07d}", ma_ho_so, index, commune, now, decided_at, ket_qua)
            self._dataset.append(index, Event(ROUTED, now, commune))
            self._transfers[transfer.ma_chuyen] = self._by_dossier[ma_ho_so] = transfer
            self._by_commune.setdefault(commune, []).append(transfer)
            return transfer

    def results(
        self, commune: str, since: int, clock: int, after: tuple[int, str] | None, limit: int
    ) -> tuple[list[Transfer], bool]:
        """Decisions of ``commune`` dated in (since, clock], after key (ThoiDiem, MaChuyen); whether more follow."""
        with self._lock:
            decided = sorted(
                (t for t in self._by_commune.get(commune, ()) if since < t.decided_at <= clock),
                key=lambda t: (t.decided_at, t.ma_chuyen),
            )
        if after is not None:
            decided = [t for t in decided if (t.decided_at, t.ma_chuyen) > after]
        return decided[:limit], len(decided) > limit

    def give_back(self, unit: str, ma_ho_so: str, ma_chuyen: str, ket_qua: str, now: int) -> str:
        """Record the commune's result at the receiving ``unit``; return the dossier's new TrangThai.

        Raises:
            RoutingError: 404 no such transfer of this dossier; 409 wrong unit, no decision
                yet, a KetQua other than the commune's, already returned, or the clock is behind.
        """
        with self._lock:
            transfer = self._transfers.get(ma_chuyen)
            if transfer is None or transfer.ma_ho_so != ma_ho_so:
                raise RoutingError(404, "no such transfer of this dossier")
            if unit != self._dataset.record(transfer.index).ma_don_vi_tiep_nhan:
                raise RoutingError(409, "the unit did not receive this dossier")
            if transfer.returned:
                raise RoutingError(409, "the result was already returned")
            if transfer.decided_at > now:
                raise RoutingError(409, "the commune has not decided yet")
            if ket_qua != transfer.ket_qua:
                raise RoutingError(409, "KetQua differs from the commune's decision")
            status = RESULT if ket_qua == APPROVED else REJECTED
            self._dataset.append(transfer.index, Event(status, now, transfer.commune))
            if status == RESULT:
                delay = handover_delay(self._dataset.seed, ma_ho_so)
                self._dataset.append(transfer.index, Event(RETURNED, now + delay, transfer.commune))
            transfer.returned = True
            return status

    def _current_index(self, ma_ho_so: str, now: int) -> int:
        """The one record with this MaHoSo received by ``now``.

        Raises:
            RoutingError: 404 if there is none.
        """
        for index in self._dataset.indexes(ma_ho_so):
            if self._dataset.latest(index, now) is not None:
                return index
        raise RoutingError(404, "no such dossier")
