"""Contract of the simulated provincial one-stop system (OpenAPI 3.1), and its status order.

The order of dossier statuses (TrangThai) lives here, once, for the mock and the hub
alike; the contract's description carries the same table (a test holds them equal).

    order  TrangThai    meaning
    1      TiepNhan     received
    2      DangXuLy     processing
    3      ChuyenXuLy   routed to the competent unit
    4      CoKetQua     result ready
    5      DaTraKetQua  result returned to the applicant (terminal)
    6      TuChoi       rejected (terminal; follows 1, 2 or 3 only)

TuChoi ranks last so that "the highest order seen" is always the latest status.

The unit code of the provincial centre, the submission channels and the marker of an
inconsistent history are contract too: the connector stages them, the quality suite
judges them, the hub routes by them, and the mock issues them.
"""

from __future__ import annotations

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
OPENAPI_PATH = CONTRACT_DIR / "openapi.yaml"

PROVINCIAL_CENTRE = "TINH"  # MaDonVi of the provincial public service centre; communes use their 5-digit code
CHANNELS = {"TrucTuyen": "online", "TrucTiep": "in_person"}  # KenhNop -> staged channel
WIRE_CHANNELS = {canonical: wire for wire, canonical in CHANNELS.items()}
INCONSISTENT = "!inconsistent"  # a staged history's marker entry; never a real TrangThai (they are letters only)

STATUS_ORDER: dict[str, int] = {
    "TiepNhan": 1,
    "DangXuLy": 2,
    "ChuyenXuLy": 3,
    "CoKetQua": 4,
    "DaTraKetQua": 5,
    "TuChoi": 6,
}
TERMINAL: frozenset[str] = frozenset({"DaTraKetQua", "TuChoi"})
REJECTABLE: frozenset[str] = frozenset({"TiepNhan", "DangXuLy", "ChuyenXuLy"})  # what TuChoi may follow


def may_follow(held: str, new: str) -> bool:
    """Whether status ``new`` may come after ``held`` (the same status again is allowed).

    Raises:
        KeyError: either status is not in STATUS_ORDER.
    """
    if STATUS_ORDER[new] == STATUS_ORDER[held]:
        return True
    if held in TERMINAL:
        return False
    if new == "TuChoi":
        return held in REJECTABLE
    return STATUS_ORDER[new] > STATUS_ORDER[held]


def history_consistent(column: str) -> tuple[str, str]:
    """The declaration's ``check`` of a staged history: (what it says, its SQL condition on ``column``).

    SQL cannot read a JSON array portably, so ``connectors.one_stop.read_history`` judged the history and
    marked it; this only looks for the marker, never at a value.
    """
    marker = f'[["{INCONSISTENT}"'  # how a marked history's text begins (compact JSON)
    return (
        "the status history is in time order, each status may follow the one before,"
        " and it ends with the current status at the update time",
        f"substr({column}, 1, {len(marker)}) <> '{marker}'",
    )
