"""The portal's request body: one dossier status update, as a pydantic model matching the contract.

Unknown fields are refused; MaThuTuc must be in the procedure catalogue; ThoiDiem must
be RFC 3339 with an offset. Errors name the fields that are wrong, never their values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mocks.one_stop.rest import parse_rfc3339
from schemas.procedures import load_catalogue

TrangThai = Literal["TiepNhan", "DangXuLy", "ChuyenXuLy", "CoKetQua", "DaTraKetQua", "TuChoi"]
MA_HO_SO_PATTERN = r"^[A-Za-z0-9.\-]{1,64}$"


class StatusUpdate(BaseModel):
    """``PUT /dossiers/{MaHoSo}/status``: the dossier's status as of ThoiDiem, where and how it is handled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TrangThai: TrangThai
    ThoiDiem: str
    MaThuTuc: str = Field(min_length=1, max_length=32)
    MaDonViXuLy: str = Field(pattern=r"^(TINH|[0-9]{5})$")
    KenhNop: Literal["TrucTuyen", "TrucTiep"]

    @field_validator("ThoiDiem")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_rfc3339(value)  # ValueError becomes a validation error
        return value

    @field_validator("MaThuTuc")
    @classmethod
    def _known_procedure(cls, value: str) -> str:
        if value not in load_catalogue():
            raise ValueError("not a procedure of the catalogue")
        return value
