"""What the report knows of the declared streams, derived from the declarations: never kept by hand.

``report_scope`` gives the build, in one value: every inbound flow (the hub's own, and
one per declared stream: DAG id -> stream, dataset, schedule), every dataset's titles,
the guidance (``guidance.yaml``'s texts, plus texts generated for each declared stream
and each rule of its compiled suite, from the rule's own description and the
declaration's titles, wire names and owner; a text written in ``guidance.yaml`` for a
declared rule wins), and the province's systems with what connects each.

The generated texts name fields, wire elements, systems and owners, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hub.store.declared import dataset_table, staging_table
from hub.systems.catalogue import Catalogue, Connection, catalogue, connections, province_systems
from hub.systems.loader import HUB_DATASETS, Declared, DeclaredStream, load_systems, streams
from lgsp.declaration import SystemDecl
from quality.report.guidance import Guidance, RuleGuidance, StreamGuidance, Text

# The hub's own datasets' titles; a declared dataset's come from its declaration.
HUB_TITLES = {
    "citizen": ("Dân cư (công dân)", "Population (citizens)"),
    "civil_event": ("Hộ tịch (sự kiện)", "Civil status (events)"),
    "dossier": ("Hồ sơ thủ tục hành chính", "Administrative dossiers"),
}

# rule kind -> what a failing record shows (Vietnamese, English)
_FAILS: dict[str, tuple[str, str]] = {
    "valid": ("sai cấu trúc dữ liệu trao đổi", "breaks the interface contract"),
    "not_empty": ("bị thiếu hoặc để trống", "is missing or blank"),
    "pattern": ("sai định dạng quy định", "does not match its required pattern"),
    "one_of": ("có giá trị ngoài danh mục", "holds a value outside the allowed list"),
    "range": ("nằm ngoài khoảng cho phép", "lies outside the allowed range"),
    "not_in_future": ("là thời điểm trong tương lai", "lies in the future"),
    "unique_in_run": (
        "trùng với bản ghi khác có nội dung khác trong cùng lần đồng bộ",
        "is repeated with different content in the same run",
    ),
    "personal_id": ("không phải số định danh cá nhân hợp lệ", "is not a well-formed personal id"),
    "personal_id_consistent": (
        "không khớp với ngày sinh hoặc giới tính",
        "disagrees with the birth date or the gender",
    ),
    "known": ("không phải mã đơn vị hành chính hiện hành", "is not a known administrative unit code"),
    "before": ("muộn hơn mốc mà nó phải đứng trước", "is later than the value it must precede"),
    "references": ("không khớp bản ghi nào đã được công bố", "matches no published record"),
    "differs": ("trùng với trường mà nó phải khác", "is the same as the field it must differ from"),
    "after_referenced": (
        "sớm hơn mốc ngày của bản ghi được tham chiếu",
        "is earlier than the date of the record it refers to",
    ),
}


@dataclass(frozen=True, eq=False)
class ReportScope:
    """The flows, titles, guidance and province systems a build reports on."""

    flows: Mapping[str, tuple[str, str]]  # DAG id -> (stream, dataset), the hub's own first
    schedules: Mapping[str, str]  # declared DAG id -> its schedule (the hub's own: hub.orchestration.schedules)
    titles: Mapping[str, tuple[str, str]]  # dataset -> (Vietnamese, English)
    guidance: Guidance
    systems: tuple[Connection, ...]

    @property
    def datasets(self) -> list[str]:
        """Every dataset a flow feeds, once, in flow order (the site's navigation)."""
        return list(dict.fromkeys(dataset for _, dataset in self.flows.values()))

    def title(self, dataset: str, lang: str) -> str:
        """The dataset's title in ``lang``; its name when it has none."""
        vi, en = self.titles.get(dataset, (dataset, dataset))
        return vi if lang == "vi" else en


def report_scope(
    guidance: Guidance, systems: tuple[Declared, ...] | None = None, known: Catalogue | None = None
) -> ReportScope:
    """The scope of a build: the hub's own flows and every declared stream, with generated guidance.

    Raises:
        ConfigError: a declaration, its rules or ``config/province_systems.yaml`` is wrong.
    """
    declared = systems if systems is not None else load_systems()
    known = known or catalogue(declared)
    flows: dict[str, tuple[str, str]] = {}
    schedules: dict[str, str] = {}
    titles = dict(HUB_TITLES)
    rules: dict[tuple[str, str], RuleGuidance] = {}
    stream_texts: dict[str, StreamGuidance] = {}
    # What a references rule may point at, as the pipeline compiles it (hub.pipeline.declared).
    datasets = {
        **{item.stream.dataset: (dataset_table(item.stream).name, item.stream.key) for item in streams(declared)},
        **HUB_DATASETS,
    }
    for item in streams(declared):
        flows[item.dag_id] = (item.qualified, item.stream.dataset)
        schedules[item.dag_id] = item.stream.schedule
        entry = known.datasets.get(item.stream.dataset)
        if entry is not None:
            titles[entry.name] = (entry.title.vi, entry.title.en)
        stream_texts[item.qualified] = _stream_guidance(item)
        for name, description in _suite_rules(item, datasets):
            rules[(item.stream.dataset, name)] = _rule_guidance(item, name, description)
    # A text written by hand in guidance.yaml wins over a generated one; a declared suite's rules keep
    # the suite's order whichever wrote their text.
    merged_rules = {**rules, **{key: value for key, value in guidance.rules.items()}}
    ordered = {key: merged_rules[key] for key in [*(k for k in guidance.rules if k not in rules), *rules]}
    merged_streams = {**stream_texts, **guidance.streams}
    return ReportScope(
        flows=MappingProxyType(flows),
        schedules=MappingProxyType(schedules),
        titles=MappingProxyType(titles),
        guidance=Guidance(rules=MappingProxyType(ordered), streams=MappingProxyType(merged_streams)),
        systems=tuple(connections(province_systems(), known)),
    )


def _suite_rules(item: DeclaredStream, datasets: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, description) of each rule of the stream's compiled suite, in suite order."""
    from quality.rules import compile_suite  # its SQL builders are needed only here

    suite = compile_suite(item.stream, staging=staging_table(item.stream), datasets=datasets)
    return [(rule.name, rule.description) for rule in suite.rules]


def _stream_guidance(item: DeclaredStream) -> StreamGuidance:
    decl = item.system
    owner = decl.owner
    return StreamGuidance(
        stream=item.qualified,
        system=Text(vi=decl.title.vi, en=decl.title.en),
        operator=Text(vi=owner, en=f"{owner} (the system's owner, as its declaration names it)"),
        dataset=item.stream.dataset,
    )


def _rule_guidance(item: DeclaredStream, name: str, description: str) -> RuleGuidance:
    """Texts for one rule of a declared stream, from its description, its field and the declaration."""
    field, _, rest = name.partition(".")
    kind = rest.split(".")[0]
    decl, stream = item.system, item.stream
    spec = stream.fields.get(field)
    fails_vi, fails_en = _FAILS.get(kind, ("không đạt quy tắc", "breaks the rule"))
    if spec is None:  # contract.valid: the whole record
        subject_vi, subject_en, wire = "Bản ghi", "The record", None
    else:
        title = spec.title
        subject_vi = f"Trường {title.vi if title else field}"
        subject_en = f"Field {title.en if title else field}"
        wire = spec.from_
    where_vi = f"; phần tử gốc {wire}" if wire else ""
    where_en = f"; wire element {wire}" if wire else ""
    system_vi, system_en = decl.title.vi, decl.title.en
    return RuleGuidance(
        rule=name,
        dataset=stream.dataset,
        title=Text(vi=f"{subject_vi} {fails_vi}", en=f"{subject_en} {fails_en}"),
        meaning=Text(
            vi=f"Bản ghi nhận từ {system_vi} (luồng {item.qualified}{where_vi}) không đạt quy tắc {name}. "
            f"Mô tả kỹ thuật của quy tắc: {description}.",
            en=f"A record from the {system_en} (stream {item.qualified}){where_en} breaks rule {name}: {description}.",
        ),
        action=_action(item, name, kind, wire, decl),
    )


def _action(item: DeclaredStream, name: str, kind: str, wire: str | None, decl: SystemDecl) -> Text:
    owner, system = decl.owner, decl.system
    cursor = item.stream.cursor
    moved = item.stream.fields[cursor.field].from_ if cursor and cursor.field in item.stream.fields else None
    again_vi = (
        f"khi dữ liệu được sửa tại nguồn ({moved} thay đổi), lần đồng bộ kế tiếp hoặc lệnh `lgsp sync {system}` "
        "sẽ đọc và công bố bản đã sửa"
        if moved
        else f"lần đồng bộ kế tiếp hoặc lệnh `lgsp sync {system}` đọc lại toàn bộ và công bố bản đã sửa"
    )
    again_en = (
        f"once the source corrects it ({moved} moves), the next sync or `lgsp sync {system}` reads and "
        "publishes the corrected record"
        if moved
        else f"the next sync or `lgsp sync {system}` reads everything again and publishes the corrected record"
    )
    listing_vi = f"Xem các bản ghi đang cách ly bằng `lgsp quarantine --rule {name}`."
    listing_en = f"List the held records with `lgsp quarantine --rule {name}`."
    if kind == "valid":
        contract = (decl.soap.wsdl if decl.soap else decl.rest.openapi if decl.rest else None) or "the endpoint's"
        return Text(
            vi=f"Kỹ sư dữ liệu đối chiếu nội dung gốc của bản ghi (cột payload của bảng quarantine) với đặc tả "
            f"{contract} và khai báo config/systems/{system}.yaml. Nhiều bản ghi cùng lỗi: phía nguồn có thể đã "
            f"đổi đặc tả, báo {owner} và cập nhật khai báo; ít bản ghi: đề nghị {owner} sửa dữ liệu; {again_vi}. "
            f"{listing_vi}",
            en=f"A data engineer compares the held record's raw payload (the quarantine table's payload column) "
            f"with the contract ({contract}) and config/systems/{system}.yaml. If many records fail alike, the "
            f"source has probably changed its contract: tell {owner} and update the declaration; if a few do, ask "
            f"{owner} to correct them; {again_en}. {listing_en}",
        )
    if kind == "references":
        return Text(
            vi=f"Bản ghi được tham chiếu có thể chưa được đồng bộ: kiểm tra các lần chạy gần nhất của bộ dữ liệu "
            f"được tham chiếu; nếu bản ghi đó không tồn tại, đề nghị {owner} kiểm tra trường {wire}. Quy tắc được "
            f"kiểm tra lại ở mỗi lần đồng bộ; {again_vi}. {listing_vi}",
            en=f"The record it references may not have been synced yet: check the referenced dataset's latest "
            f"runs; if it does not exist, ask {owner} to check {wire}. The rule is checked again at every sync; "
            f"{again_en}. {listing_en}",
        )
    return Text(
        vi=f"Đề nghị {owner} kiểm tra và sửa {wire or 'bản ghi'} tại nguồn; nền tảng không tự sửa dữ liệu. "
        f"{again_vi[0].upper()}{again_vi[1:]}. {listing_vi}",
        en=f"Ask {owner} to check and correct {wire or 'the record'} at the source; the platform never "
        f"corrects data itself. {again_en[0].upper()}{again_en[1:]}. {listing_en}",
    )
