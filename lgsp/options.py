"""A command's option values, checked by the settings model that receives them, every wrong one named.

The ``lgsp`` commands and ``lgsp mocks serve`` both check their options this way, so the
limits are written once, in the model, and a user sees all that is wrong in one line
instead of one problem per attempt (Typer's own ``min``/``max`` stop at the first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings


def option_problems(
    model: type[BaseSettings], options: Mapping[str, object], also: Iterable[str | None] = ()
) -> list[str]:
    """What is wrong with the option values, each named (``--defect-rate 2.0: must be ...``); empty if nothing.

    ``options`` maps an option (``--defect-rate``) to its value (None: not given); the
    model's field of the same name (``defect_rate``) checks it. ``also``: problems found
    otherwise (e.g. ``lgsp.serving.port_problem``), None where there is none.
    """
    from pydantic import ValidationError

    fields = {option.lstrip("-").replace("-", "_"): option for option in options}
    problems = [problem for problem in also if problem]
    given: dict[str, Any] = {field: options[option] for field, option in fields.items() if options[option] is not None}
    try:
        model(**given)
    except ValidationError as exc:
        prefix = str(model.model_config.get("env_prefix", ""))
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            said = error["msg"].replace("Input should be", "must be")
            if field in fields:
                problems.append(f"{fields[field]} {options[fields[field]]}: {said}")
            else:  # a bad environment variable is named too; its value is not echoed (it may be a secret)
                problems.append(f"{prefix}{field.upper()}: {said}")
    return problems
