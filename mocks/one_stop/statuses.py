"""Names of the one-stop system's statuses and decisions, for the mock's own code.

The order of the statuses is the contract's (`schemas.one_stop.STATUS_ORDER`); it is
re-exported here so the mock has one place to import status vocabulary from.
"""

from __future__ import annotations

from schemas.one_stop import REJECTABLE, STATUS_ORDER, TERMINAL, may_follow

RECEIVED, PROCESSING, ROUTED, RESULT, RETURNED, REJECTED = (
    "TiepNhan",
    "DangXuLy",
    "ChuyenXuLy",
    "CoKetQua",
    "DaTraKetQua",
    "TuChoi",
)
APPROVED, REFUSED = "ChapThuan", "TuChoi"  # KetQua: a competent commune's decision

__all__ = [
    "APPROVED",
    "PROCESSING",
    "RECEIVED",
    "REFUSED",
    "REJECTABLE",
    "REJECTED",
    "RESULT",
    "RETURNED",
    "ROUTED",
    "STATUS_ORDER",
    "TERMINAL",
    "may_follow",
]
