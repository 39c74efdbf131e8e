"""The report's plots: real altair charts rendered by the real vl-convert, read back as XML.

Every assertion reads the SVG the auditors' browser would get, parsed with a parser
that neither resolves entities nor touches the network, and looks at the texts vega
drew: axis labels, legend entries, titles.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable

import pytest
from lxml import etree

from quality.report.plots import WIDTH, bars_svg, stacked_svg, trend_svg

SVG = "{http://www.w3.org/2000/svg}"
TITLE_VI = "Tỷ lệ lỗi theo lần chạy"
HOSTILE = "<script>alert(1)</script> & co"
RUNS = ["03/12 10:00", "01/12 10:00", "02/12 10:00", "01/12 16:00"]  # run order, not alphabetical


def parse(svg: str) -> etree._Element:
    """Parse as the strictest consumer would: no entities, no network, no DTD."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(svg.encode("utf-8"), parser)


def elements(root: etree._Element, path: str) -> list[etree._Element]:
    """The elements an XPath selects."""
    found = root.xpath(path)
    assert isinstance(found, list)
    return [element for element in found if isinstance(element, etree._Element)]


def role_path(role: str, axis: str | None = None) -> str:
    """XPath to the texts of one role (axis-label, axis-title, legend-label, title-text), of one axis or all."""
    scope = f"//*[local-name()='g'][starts-with(@aria-label, '{axis}-axis')]" if axis else ""
    return f"{scope}//*[local-name()='g'][contains(@class, 'role-{role}')]/*[local-name()='text']"


def texts(root: etree._Element, role: str, axis: str | None = None) -> list[str]:
    """The texts of one role, in document order."""
    return [element.text or "" for element in elements(root, role_path(role, axis))]


def all_texts(root: etree._Element) -> list[str]:
    """Every text the SVG draws."""
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def trend(**overrides: object) -> str:
    """A small trend of two rules over four runs, with Vietnamese titles."""
    arguments: dict[str, object] = {
        "series": {
            "citizen.id_format": [(run, 0.1 * i) for i, run in enumerate(RUNS)],
            "citizen.birth_date": [(run, 0.05) for run in RUNS[:3]],
        },
        "x_title": "Lần chạy",
        "y_title": "Tỷ lệ lỗi",
        "title": TITLE_VI,
    }
    arguments.update(overrides)
    return trend_svg(**arguments)  # type: ignore[arg-type]


def bars(**overrides: object) -> str:
    """Bars for three agencies, biggest not first, one negative."""
    arguments: dict[str, object] = {
        "bars": [("Sở Tư pháp", 12.0), ("Công an tỉnh", 1234.0), ("BHXH", -3.0)],
        "x_title": "Số lượt trao đổi",
        "y_title": "Cơ quan",
        "title": TITLE_VI,
    }
    arguments.update(overrides)
    return bars_svg(**arguments)  # type: ignore[arg-type]


def stacked(**overrides: object) -> str:
    """Exchanges per day per agency, days out of alphabetical order."""
    arguments: dict[str, object] = {
        "points": [
            ("02/12", "STP", 3.0),
            ("02/12", "CA", 5.0),
            ("01/12", "CA", 2.0),
            ("10/12", "BHXH", 7.0),
            ("01/12", "STP", 1.0),
        ],
        "x_title": "Ngày",
        "y_title": "Số lượt trao đổi",
        "title": TITLE_VI,
    }
    arguments.update(overrides)
    return stacked_svg(**arguments)  # type: ignore[arg-type]


PLOTS: dict[str, Callable[..., str]] = {"trend": trend, "bars": bars, "stacked": stacked}


@pytest.mark.parametrize("plot", PLOTS.values(), ids=PLOTS.keys())
def test_an_svg_document_to_inline(plot: Callable[..., str]) -> None:
    svg = plot()
    assert svg.startswith("<svg")  # no XML declaration, no doctype: HTML5 takes it inline
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == str(WIDTH)
    assert root.get("viewBox") is not None  # the page may scale it down with CSS
    # ids are document-wide in HTML: two inlined charts with a clip1 each would clip each other.
    assert not [element for element in root.iter() if element.get("id") is not None]
    assert TITLE_VI in texts(root, "title-text")


@pytest.mark.parametrize("plot", PLOTS.values(), ids=PLOTS.keys())
def test_same_input_same_svg(plot: Callable[..., str]) -> None:
    assert plot() == plot()


def test_trend_draws_each_rule_with_its_titles() -> None:
    root = parse(trend(percent=True))
    assert texts(root, "legend-label") == ["citizen.id_format", "citizen.birth_date"]
    assert texts(root, "axis-title", "X") == ["Lần chạy"]
    assert texts(root, "axis-title", "Y") == ["Tỷ lệ lỗi"]
    y_labels = texts(root, "axis-label", "Y")
    assert y_labels and all(label.endswith("%") for label in y_labels)
    assert "30%" in y_labels


def test_trend_without_percent_prints_plain_numbers() -> None:
    root = parse(trend(percent=False, series={"exchanges": [("a", 120.0), ("b", 3400.0)]}))
    y_labels = texts(root, "axis-label", "Y")
    assert y_labels and not any(label.endswith("%") for label in y_labels)
    assert "3,000" in y_labels


def test_trend_keeps_the_run_order() -> None:
    series = {
        "rule.a": [(run, 0.1) for run in RUNS[:3]],
        "rule.b": [("05/12 09:00", 0.2), (RUNS[3], 0.3), (RUNS[0], 0.4)],  # a run rule.a lacks comes first here
    }
    root = parse(trend(series=series))
    # First appearance across the series, never alphabetical.
    assert texts(root, "axis-label", "X") == [*RUNS[:3], "05/12 09:00", RUNS[3]]


def test_trend_of_twenty_rules_over_two_hundred_runs_stays_readable() -> None:
    runs = [f"{day:02d}/12 {hour:02d}:00" for day in range(1, 31) for hour in range(0, 24, 3)][:200]
    names = [f"dossier.rule_{k:02d}" for k in range(20)]
    series = {name: [(run, (k + i) % 10 / 10) for i, run in enumerate(runs)] for k, name in enumerate(names)}
    root = parse(trend_svg(series, x_title="Lần chạy", y_title="Tỷ lệ lỗi"))
    assert texts(root, "legend-label") == names
    labels = elements(root, role_path("axis-label", "X"))
    shown = [label.text for label in labels]
    assert shown[0] == runs[0]
    assert 10 <= len(shown) <= 40  # thinned, not 200 labels on top of each other
    assert shown == [run for run in runs if run in set(shown)]  # still in run order
    assert all("rotate(" in label.get("transform", "") for label in labels)
    assert all(label.get("opacity") != "0" for label in labels)  # what is kept is shown


def test_trend_refuses_a_run_label_twice_in_one_series() -> None:
    with pytest.raises(ValueError, match="twice"):
        trend(series={"rule.a": [("01/12 10:00", 0.1), ("01/12 10:00", 0.2)]})


def test_trend_skips_values_json_cannot_carry() -> None:
    root = parse(trend(series={"rule.a": [("a", 0.1), ("b", math.nan), ("c", math.inf), ("d", 0.2)]}))
    assert texts(root, "axis-label", "X") == ["a", "b", "c", "d"]


def test_bars_in_the_given_order_with_their_values() -> None:
    root = parse(bars())
    assert texts(root, "axis-label", "Y") == ["Sở Tư pháp", "Công an tỉnh", "BHXH"]
    assert texts(root, "axis-title", "X") == ["Số lượt trao đổi"]
    assert texts(root, "axis-title", "Y") == ["Cơ quan"]
    drawn = all_texts(root)
    assert {"12", "1,234", "−3"} <= set(drawn)  # d3 writes a real minus sign


def test_bars_as_rates() -> None:
    root = parse(bars(bars=[("rule.a", 0.1234), ("rule.b", 1.0), ("rule.c", 0.0)], percent=True))
    assert {"12.3%", "100%", "0%"} <= set(all_texts(root))
    # The headroom for the labels goes past 100 %; the axis does not say so.
    assert "110%" not in texts(root, "axis-label", "X")


def test_bars_refuse_a_label_twice() -> None:
    with pytest.raises(ValueError, match="unique"):
        bars(bars=[("STP", 1.0), ("STP", 2.0)])


def test_stacked_in_the_given_order_coloured_by_group() -> None:
    root = parse(stacked())
    assert texts(root, "axis-label", "X") == ["02/12", "01/12", "10/12"]
    assert texts(root, "legend-label") == ["STP", "CA", "BHXH"]
    assert texts(root, "axis-title", "X") == ["Ngày"]
    assert texts(root, "axis-title", "Y") == ["Số lượt trao đổi"]


def test_stacked_adds_up_repeated_points_into_one_segment() -> None:
    points = [("01/12", "STP", 1.0), ("01/12", "STP", 2.0), ("01/12", "CA", 4.0)]
    root = parse(stacked(points=points))
    segments = elements(root, "//*[local-name()='g'][contains(@class, 'role-mark')]/*[local-name()='path']")
    assert len(segments) == 2
    assert texts(root, "axis-label", "Y")[-1] == "7"  # the axis reaches the day's total


@pytest.mark.parametrize(
    ("plot", "empty"),
    [(trend, {"series": {}}), (trend, {"series": {"rule.a": []}}), (bars, {"bars": []}), (stacked, {"points": []})],
    ids=["trend", "trend-of-empty-series", "bars", "stacked"],
)
def test_empty_input_says_so(plot: Callable[..., str], empty: dict[str, object]) -> None:
    svg = plot(**empty, empty_text="Chưa có dữ liệu <&>")
    assert svg.startswith("<svg")
    root = parse(svg)
    assert all_texts(root) == ["Chưa có dữ liệu <&>"]
    assert root.get("width") == str(WIDTH)


def test_empty_text_defaults_to_a_dash() -> None:
    assert all_texts(parse(bars(bars=[]))) == ["—"]


@pytest.mark.parametrize(
    "plot",
    [
        lambda: trend(series={HOSTILE: [(HOSTILE, 0.5)]}, x_title=HOSTILE, title=HOSTILE),
        lambda: bars(bars=[(HOSTILE, 1.0)], y_title=HOSTILE, title=HOSTILE),
        lambda: stacked(points=[(HOSTILE, HOSTILE, 1.0)], x_title=HOSTILE, title=HOSTILE),
    ],
    ids=PLOTS.keys(),
)
def test_hostile_labels_stay_text(plot: Callable[[], str]) -> None:
    svg = plot()
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in svg
    root = parse(svg)
    assert not [element for element in root.iter() if etree.QName(element).localname.lower() == "script"]
    assert not [name for element in root.iter() for name in element.attrib if str(name).lower().startswith("on")]
    assert HOSTILE in all_texts(root)  # drawn as the caller wrote it, escaped only in transit


def test_control_characters_do_not_break_the_xml() -> None:
    root = parse(bars(bars=[("STP\x00\x1b", 1.0)], title="a\x0bb"))
    assert "STP" in texts(root, "axis-label", "Y")


def test_decomposed_vietnamese_comes_out_precomposed() -> None:
    decomposed = unicodedata.normalize("NFD", TITLE_VI)
    assert decomposed != TITLE_VI
    root = parse(trend(title=decomposed))
    assert texts(root, "title-text") == [TITLE_VI]
