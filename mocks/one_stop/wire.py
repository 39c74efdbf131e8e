"""Request bodies of the one-stop system, as pydantic models that match the contract's schemas.

Unknown fields are refused (``extra="forbid"``), as the contract's
``additionalProperties: false`` says; `mocks.one_stop.rest.parse_body` turns errors into
a 422 that names the fields, never their values.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mocks.one_stop.rest import Problem

UNIT_PATTERN = r"^(TINH|[0-9]{5})$"  # MaDonVi: the provincial centre or a 5-digit commune
_UNIT = re.compile(UNIT_PATTERN)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransferRequest(_Strict):
    """``POST /units/{MaDonVi}/inbox``: the dossier and the unit sending it."""

    MaHoSo: str = Field(min_length=1, max_length=64)
    MaDonViGui: str = Field(pattern=UNIT_PATTERN)


class ReturnRequest(_Strict):
    """``POST /units/{MaDonVi}/returns``: the commune's result, handed back to the receiving unit."""

    MaHoSo: str = Field(min_length=1, max_length=64)
    MaChuyen: str = Field(min_length=1, max_length=64)
    KetQua: Literal["ChapThuan", "TuChoi"]


def unit(value: str) -> str:
    """A MaDonVi path parameter.

    Raises:
        Problem: 422 not TINH or a 5-digit commune code.
    """
    if not _UNIT.fullmatch(value):
        raise Problem(422, "invalid-parameter", "MaDonVi must be TINH or a 5-digit commune code")
    return value
