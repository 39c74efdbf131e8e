"""Plots for the auditors' report: altair charts rendered offline to inline SVG by vl-convert.

The report is a static page without JavaScript, so every chart is rendered here, in
Python, to an ``<svg>`` element meant to be pasted into HTML5 as is. Nothing in a chart
is interactive (no selections, no tooltips: there is no script to run them) and
nothing is fetched: data is inlined in the spec and vl-convert is told to allow no
base URL at all.

Caller text (rule names, agency codes, run labels, translated titles) only ever
travels as data *values* and titles, never as field names or Vega expressions, so it
cannot change the spec; the SVG renderer escapes it as XML text and attributes.

Importing this module imports altair (about 1.9 s on the development machine);
the first rendering in a process also starts vl-convert's JavaScript engine (about
1 s). Import it from the report builder only, inside the command that builds the
report, not from anything the CLI or Airflow imports at start-up.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

import altair as alt
import vl_convert as vlc

__all__ = ["bars_svg", "stacked_svg", "trend_svg"]

WIDTH = 720
"""Width of every SVG, legend and axes included (the report's text column)."""

SCHEME: Final = "tableau10"
"""Colour scheme, chosen with colour-vision deficiencies in mind; trends also vary the point shape."""

_BAR_COLOUR = "#4c78a8"  # tableau10's first colour: single-series bars match the first line elsewhere
_TREND_HEIGHT = 300
_STACKED_HEIGHT = 280
_BAR_STEP = 22
_LEGEND_LABEL_LIMIT = 220  # px; rule names are long, vega's default (160) cuts most of them
_AXIS_LABEL_LIMIT = 200
_LABEL_SLOT = 20  # px of axis length a label rotated by 45° needs to clear its neighbour (11 px font), with air
_CHAR_WIDTH = 6.5  # px, an average sans-serif character at 11 px, to estimate sizes before layout

# The spec must be compiled by the Vega-Lite version altair generated it for, not
# whatever vl-convert considers latest (altair's own save() does the same).
_VL_VERSION = "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])

_DATA = alt.NamedData(name="rows")

# XML 1.0 forbids these code points; one in a rule name would make the SVG unparseable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_CONFIG: dict[str, Any] = {
    "view": {"stroke": None},
    "axis": {"labelLimit": _AXIS_LABEL_LIMIT, "titleFontSize": 12, "labelFontSize": 11},
    "legend": {"labelLimit": _LEGEND_LABEL_LIMIT, "labelFontSize": 11, "orient": "right"},
    "title": {"anchor": "start", "fontSize": 14},
    # Every mark would otherwise carry an aria-label per point ("v: 0.250000; x: …"):
    # thousands of attributes that double the file and read badly. Axes, legends and
    # the title keep theirs.
    "mark": {"aria": False},
}


def trend_svg(
    series: Mapping[str, Sequence[tuple[str, float]]],
    *,
    x_title: str,
    y_title: str,
    percent: bool = True,
    title: str = "",
    empty_text: str = "—",
) -> str:
    """Render one marked line per series over ordinal x labels kept in the given order."""
    rows: list[dict[str, Any]] = []
    domain: dict[str, int] = {}  # x label -> position; first appearance across series wins
    names: list[str] = []
    for raw_name, points in series.items():
        name = _clean(raw_name)
        seen: set[str] = set()
        for raw_x, value in points:
            x = _clean(raw_x)
            if x in seen:
                # The x scale is ordinal: two points with one label are one column and
                # the line would zigzag through it. Refuse rather than draw a lie.
                raise ValueError(
                    f"series {raw_name!r} has the x label {raw_x!r} twice; make the labels unique "
                    "(for run labels, add the seconds or the run id)"
                )
            seen.add(x)
            domain.setdefault(x, len(domain))
            rows.append({"s": name, "x": x, "v": _finite(value)})
        if seen:
            names.append(name)
    if not rows:
        return _empty_svg(empty_text)
    for row in rows:
        row["i"] = domain[row["x"]]
    xs = list(domain)
    y_format = "~%" if percent else ",~r"
    x_axis = _ordinal_axis(xs, WIDTH - _legend_width(names))
    color = alt.Color("s:N", scale=alt.Scale(domain=names, scheme=SCHEME), title=None, sort=names)
    base = alt.Chart(_DATA).encode(
        x=alt.X("x:O", sort=xs, title=_clean(x_title), axis=x_axis, scale=alt.Scale(domain=xs)),
        y=alt.Y("v:Q", title=_clean(y_title), axis=alt.Axis(format=y_format), scale=alt.Scale(zero=True)),
        color=color,
        order=alt.Order("i:Q"),  # connect points in the given x order, whatever vega would sort by
    )
    # tableau10 has ten colours; up to ~20 rules share them, so the point shape (eight
    # of them, cycling independently) tells apart the series that share a colour. The
    # legend merges colour and shape into one entry per series.
    lines = base.mark_line(strokeWidth=1.5)
    marks = base.mark_point(filled=True, size=28 if len(xs) <= 60 else 12).encode(
        shape=alt.Shape("s:N", scale=alt.Scale(domain=names), title=None, sort=names)
    )
    chart = alt.layer(lines, marks).properties(width=WIDTH, height=_TREND_HEIGHT)
    return _render(chart, rows, title)


def bars_svg(
    bars: Sequence[tuple[str, float]],
    *,
    x_title: str,
    y_title: str,
    title: str = "",
    percent: bool = False,
    empty_text: str = "—",
) -> str:
    """Render horizontal bars in the given order, each labelled with its value at its end."""
    labels = [_clean(label) for label, _ in bars]
    if not labels:
        return _empty_svg(empty_text)
    if len(set(labels)) != len(labels):
        # One label is one band: repeated labels would be drawn on top of each other.
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        raise ValueError(f"bar labels must be unique, repeated: {duplicates!r}")
    numbers = [_finite(value) for _, value in bars]
    rows: list[dict[str, Any]] = [{"y": label, "v": number} for label, number in zip(labels, numbers, strict=True)]
    values = [number for number in numbers if number is not None]
    value_format = ".1~%" if percent else ",.2~f"
    # Room on the right (and left, for negatives) for the value printed past the bar's end.
    high, low = max([0.0, *values]), min([0.0, *values])
    span = (high - low) or 1.0
    domain = [low - 0.15 * span if low < 0 else 0.0, high + 0.15 * span if high > 0 or low == 0 else 0.0]
    base = alt.Chart(_DATA).encode(
        y=alt.Y("y:N", sort=labels, title=_clean(y_title), scale=alt.Scale(domain=labels)),
        x=alt.X(
            "v:Q",
            title=_clean(x_title),
            axis=_value_axis(percent, high),
            scale=alt.Scale(domain=domain, nice=False),
        ),
    )
    bar = base.mark_bar(color=_BAR_COLOUR)
    text = alt.Text("v:Q", format=value_format)
    right = base.mark_text(align="left", baseline="middle", dx=4, fontSize=11).encode(text=text)
    left = base.mark_text(align="right", baseline="middle", dx=-4, fontSize=11).encode(text=text)
    chart = alt.layer(
        bar,
        right.transform_filter("datum.v >= 0"),  # expressions name our fields only, never caller text
        left.transform_filter("datum.v < 0"),
    ).properties(width=WIDTH, height=alt.Step(_BAR_STEP))
    return _render(chart, rows, title)


def stacked_svg(
    points: Sequence[tuple[str, str, float]],
    *,
    x_title: str,
    y_title: str,
    title: str = "",
    empty_text: str = "—",
) -> str:
    """Render one bar per x label, in the given order, stacked by group and coloured by it."""
    xs: dict[str, None] = {}
    groups: dict[str, None] = {}
    totals: dict[tuple[str, str], float] = {}
    for raw_x, raw_group, value in points:
        x, group = _clean(raw_x), _clean(raw_group)
        xs.setdefault(x)
        groups.setdefault(group)
        number = _finite(value)
        # Counts per (day, agency) from several sources add up; summing here keeps one
        # segment per group instead of several stacked slivers of the same colour.
        totals[x, group] = totals.get((x, group), 0.0) + (number or 0.0)
    if not totals:
        return _empty_svg(empty_text)
    order = {group: position for position, group in enumerate(groups)}
    rows = [{"x": x, "g": g, "v": v, "o": order[g]} for (x, g), v in totals.items()]
    x_list, group_list = list(xs), list(groups)
    chart = (
        alt.Chart(_DATA)
        .mark_bar()
        .encode(
            x=alt.X(
                "x:O",
                sort=x_list,
                title=_clean(x_title),
                scale=alt.Scale(domain=x_list),
                axis=_ordinal_axis(x_list, WIDTH - _legend_width(group_list)),
            ),
            y=alt.Y("v:Q", stack="zero", title=_clean(y_title), axis=alt.Axis(format=",~r")),
            color=alt.Color("g:N", scale=alt.Scale(domain=group_list, scheme=SCHEME), title=None, sort=group_list),
            order=alt.Order("o:Q"),  # stack groups in their given order, first at the bottom
        )
        .properties(width=WIDTH, height=_STACKED_HEIGHT)
    )
    return _render(chart, rows, title)


def _render(chart: alt.TopLevelMixin, rows: list[dict[str, Any]], title: str) -> str:
    """Validate the chart, inline its rows and render it with the shared settings to an SVG string."""
    if title:
        chart = chart.properties(title=alt.TitleParams(_clean(title)))
    # altair validates the spec against the Vega-Lite schema, which is worth having, but
    # validating 2,000 inline rows one by one took longer than rendering them. The rows
    # join the spec after validation, as a named dataset: they never pass through
    # altair's data transformers, so its max-rows limit does not apply and no global
    # setting has to change.
    spec = chart.to_dict()
    spec["datasets"] = {_DATA.name: rows}
    spec["config"] = _CONFIG
    # The width given is the whole figure's, legend and axis labels included, so
    # every chart lines up in the report column; heights grow with rotated labels.
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    spec["background"] = "white"
    svg: str = vlc.vegalite_to_svg(spec, vl_version=_VL_VERSION, allowed_base_urls=[])
    return svg


def _empty_svg(text: str) -> str:
    """A small SVG that says there is nothing to plot, in the report's width."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="marks empty" width="{WIDTH}" height="40" '
        f'viewBox="0 0 {WIDTH} 40" role="img" aria-label={quoteattr(_clean(text))}>'
        '<text x="8" y="24" font-family="sans-serif" font-size="13px" fill="#555">'
        f"{escape(_clean(text))}</text></svg>"
    )


def _value_axis(percent: bool, high: float) -> alt.Axis:
    """The bars' value axis; a rate axis stops labelling at 100 % even where the headroom goes past it."""
    if not percent or high > 1:
        return alt.Axis(format=".0~%" if percent else ",~r")
    return alt.Axis(format=".0~%", labelExpr="datum.value <= 1 ? datum.label : ''")


def _ordinal_axis(labels: Sequence[str], plot_width: float) -> alt.Axis:
    """An x axis for ordinal labels: flat when they fit, else rotated and thinned to every k-th."""
    widest = max(len(label) for label in labels) * _CHAR_WIDTH + 10
    if widest * len(labels) <= plot_width:
        # The estimate may be off for wide glyphs; vega hides (opacity 0) what still overlaps.
        return alt.Axis(labelAngle=0, labelOverlap=True)
    # vega's overlap test uses the rotated labels' upright bounding boxes and would hide
    # most of them although they do not touch; the thinning below already spaces them.
    return alt.Axis(labelAngle=-45, labelOverlap=False, values=_thin(labels, int(plot_width // _LABEL_SLOT)))


def _legend_width(names: Sequence[str]) -> float:
    """Estimated width of a right-hand legend listing these names (symbol, gap and padding included)."""
    return min(_LEGEND_LABEL_LIMIT, max(len(name) for name in names) * _CHAR_WIDTH) + 40


def _thin(labels: Sequence[str], most: int) -> list[str]:
    """Every k-th label, first included, so that at most ``most`` x labels are printed."""
    step = max(1, math.ceil(len(labels) / max(1, most)))
    return list(labels[::step])


def _finite(value: float) -> float | None:
    """The value as a float, or None (a gap) for NaN and infinities, which JSON cannot carry."""
    number = float(value)
    return number if math.isfinite(number) else None


def _clean(text: str) -> str:
    """Caller text in NFC without the control characters XML cannot hold."""
    # Decomposed Vietnamese (e + two combining marks) is the same text but is measured
    # and drawn worse, by vl-convert and by some browser fonts, than the precomposed form.
    return _XML_ILLEGAL.sub("", unicodedata.normalize("NFC", str(text)))
