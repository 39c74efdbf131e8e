"""GX's validation result as a document safe to store and show: counts and rule names, never rows.

A suite validation result (``ExpectationSuiteValidationResult.to_json_dict()``) is kept
for the auditors' Data Docs, so it must hold no personal value and no row key. Our
batches hold only ``row_id`` and 0/1 verdicts, but GX's result still carries:

- per expectation, ``result``: the failing keys (``unexpected_index_list``, the
  ``partial_*`` lists and counts, ``unexpected_list``, ``unexpected_index_query``) and,
  for other result formats or expectation kinds, values (``observed_value``,
  ``details``);
- ``exception_info``: a database message, which may quote a row's value;
- ``rendered_content``: GX's rendering of the above;
- ``meta.batch_spec.query``: the verdict SQL, and ``batch_parameters`` /
  ``batch_identifiers``, which may name partitions by value.

So the document is rebuilt from whitelists, not cleaned by a blacklist: a key GX adds
in a later version is dropped until someone decides it is safe. What Data Docs needs
to render a page stays: the suite, every expectation's configuration (type, column,
value set, the rule in ``meta`` and the description), the counts and percentages,
statistics, run name and times, and the data asset's name.

Importing this module does not import GX (the runner imports it on Airflow's DAG path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

# Counts and percentages only: every one is a number, none lists a row.
RESULT_COUNTS = frozenset(
    {
        "element_count",
        "unexpected_count",
        "unexpected_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
        "missing_count",
        "missing_percent",
    }
)
_TOP = ("success", "suite_name", "id")
_CONFIG = ("type", "kwargs", "meta", "id", "description", "severity", "notes")
_META_PLAIN = ("great_expectations_version", "validation_id", "checkpoint_id", "validation_time")
# meta key -> the sub-keys kept; batch_spec keeps no query, batch_identifiers nowhere.
_META_NESTED: dict[str, tuple[str, ...]] = {
    "batch_spec": ("data_asset_name",),
    "batch_markers": ("ge_load_time",),
    "active_batch_definition": ("datasource_name", "data_connector_name", "data_asset_name"),
    "run_id": ("run_name", "run_time"),
}


def sanitize_result(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a suite validation result's JSON with no row key, value or query text in it."""
    clean: dict[str, Any] = {key: document[key] for key in _TOP if key in document}
    clean["statistics"] = _numbers(document.get("statistics") or {})
    # Expectation parameters are supplied at run time and could be anything: none are kept.
    clean["suite_parameters"] = {}
    clean["meta"] = _meta(document.get("meta") or {})
    clean["results"] = [_expectation_result(item) for item in document.get("results") or []]
    return clean


def result_document(result: ExpectationSuiteValidationResult) -> dict[str, Any]:
    """GX's result as a sanitized JSON-ready dict (see ``sanitize_result``).

    The row lists are dropped from GX's objects before GX serialises them: its
    ``to_json_dict`` deep-copies and converts every key of every list (0.9 s for a
    20,000-row run breaking seven rules), only for the sanitizer to throw them away.
    """
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    slim = ExpectationSuiteValidationResult(
        success=bool(result.success),
        results=[
            ExpectationValidationResult(
                success=item.success,
                expectation_config=item.expectation_config,
                result=_numbers(item.result or {}, RESULT_COUNTS),
                exception_info=_exception_flag(item.exception_info or {}),
            )
            for item in result.results
        ],
        suite_name=result.suite_name,
        statistics=result.statistics,
        meta=result.meta,
        id=result.id,
    )
    return sanitize_result(slim.to_json_dict())  # type: ignore[no-untyped-call]


def _expectation_result(item: Mapping[str, Any]) -> dict[str, Any]:
    """One expectation's result: its configuration, success and counts."""
    config = item.get("expectation_config") or {}
    return {
        "success": item.get("success"),
        "expectation_config": {key: config[key] for key in _CONFIG if key in config},
        "result": _numbers(item.get("result") or {}, RESULT_COUNTS),
        "meta": {},
        "exception_info": _exception_flag(item.get("exception_info") or {}),
    }


def _exception_flag(info: Mapping[str, Any]) -> dict[str, Any]:
    """Whether GX raised, without its message or traceback (a database message may quote a value).

    GX gives either one ``{"raised_exception", ...}`` dict or one such dict per metric.
    """
    if "raised_exception" in info:
        raised = bool(info["raised_exception"])
    else:
        raised = any(isinstance(sub, Mapping) and sub.get("raised_exception") for sub in info.values())
    return {"raised_exception": raised, "exception_traceback": None, "exception_message": None}


def _meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The run's and batch's names and times, without the query or any partition value."""
    clean: dict[str, Any] = {key: _plain(meta[key]) for key in _META_PLAIN if key in meta}
    for key, kept in _META_NESTED.items():
        value = meta.get(key)
        if isinstance(value, Mapping):
            clean[key] = {sub: _plain(value[sub]) for sub in kept if sub in value}
    return clean


def _numbers(values: Mapping[str, Any], keys: frozenset[str] | None = None) -> dict[str, Any]:
    """The numeric (or null) entries of ``values``, limited to ``keys`` if given."""
    return {
        key: value
        for key, value in values.items()
        if (keys is None or key in keys) and (value is None or isinstance(value, int | float))
    }


def _plain(value: Any) -> str | int | float | bool | None:
    """A scalar kept as is; anything nested (which could hold values) becomes null."""
    return value if value is None or isinstance(value, str | int | float | bool) else None
