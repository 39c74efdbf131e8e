"""The report's words and number formats, in Vietnamese (the auditors' language) and English.

Every label the pages and CSV headers show comes from ``LABELS``; a page asks for a key
and a language. Numbers follow each language's habit: Vietnamese writes 19.600 and
55,7 %, English 19,600 and 55.7 %.
"""

from __future__ import annotations

from datetime import datetime

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

# key -> (Vietnamese, English)
LABELS: dict[str, tuple[str, str]] = {
    # site and navigation
    "site_title": ("Báo cáo chất lượng dữ liệu", "Data-quality report"),
    "site_subtitle": (
        "Nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh (LGSP)",
        "Provincial integration and data-sharing platform (LGSP)",
    ),
    "nav_overview": ("Tổng quan", "Overview"),
    "nav_datasets": ("Bộ dữ liệu", "Datasets"),
    "nav_quarantine": ("Dữ liệu cách ly", "Quarantine"),
    "nav_exchanges": ("Trao đổi dữ liệu", "Exchanges"),
    "nav_data_docs": ("Great Expectations Data Docs", "Great Expectations Data Docs"),
    "other_language": ("English", "Tiếng Việt"),
    "generated_at": ("Lập lúc", "Generated at"),
    "download_csv": ("Tải CSV", "Download CSV"),
    "no_data": ("Chưa có dữ liệu", "No data yet"),
    "no_personal_data": (
        "Báo cáo không chứa dữ liệu cá nhân: số định danh được che (ví dụ 096*******45), "
        "không có họ tên, ngày sinh hay địa chỉ.",
        "This report holds no personal data: ids are masked (e.g. 096*******45); no names, birth dates or addresses.",
    ),
    "rows_shown": (
        "Hiển thị {shown} / {total} dòng; tệp CSV có đủ.",
        "Showing {shown} of {total} rows; the CSV has them all.",
    ),
    # overview
    "flows": ("Luồng đồng bộ", "Flows"),
    "flow": ("Luồng", "Flow"),
    "schedule": ("Lịch chạy", "Schedule"),
    "last_run": ("Lần chạy gần nhất", "Last run"),
    "last_success": ("Lần thành công gần nhất", "Last success"),
    "status": ("Trạng thái", "Status"),
    "freshness": ("Độ cập nhật", "Freshness"),
    "fresh": ("Đúng lịch", "On schedule"),
    "missed": ("Trễ {n} lần chạy", "{n} runs missed"),
    "never_ran": ("Chưa chạy thành công", "Never succeeded"),
    "read": ("Đọc", "Read"),
    "published": ("Công bố", "Published"),
    "quarantined": ("Cách ly", "Quarantined"),
    "unchanged": ("Không đổi", "Unchanged"),
    "open_conflicts": ("Xung đột dữ liệu đang mở", "Open data conflicts"),
    "field": ("Trường", "Field"),
    "conflicts": ("Số xung đột", "Conflicts"),
    "kept_source": ("Nguồn đang được dùng", "Source kept"),
    "other_source": ("Nguồn khác biệt", "Disagreeing source"),
    "outbox_health": ("Hàng đợi gửi đi (outbox)", "Outbox health"),
    "topic": ("Chủ đề", "Topic"),
    "pending": ("Chờ gửi", "Pending"),
    "sent": ("Đã gửi", "Sent"),
    "acknowledged": ("Đã xác nhận", "Acknowledged"),
    "dead": ("Lỗi vĩnh viễn", "Dead"),
    "once_only": ("Chỉ cung cấp thông tin một lần", "Once-only"),
    "procedure": ("Thủ tục", "Procedure"),
    "dossiers": ("Hồ sơ", "Dossiers"),
    "prefilled_share": ("Tỷ lệ trường điền sẵn", "Fields prefilled"),
    "held_complete_share": ("Hồ sơ đủ dữ liệu đăng ký", "Dossiers the registers fully cover"),
    "complete_share": ("Hồ sơ không cần công dân khai thêm", "Dossiers needing nothing more"),
    "portal": ("Cổng Dịch vụ công quốc gia", "National Public Service Portal"),
    "online_share": ("Tỷ lệ nộp trực tuyến", "Submitted online"),
    "on_time_share": ("Tỷ lệ giải quyết đúng hạn", "Processed on time"),
    "portal_synced_share": ("Tỷ lệ đồng bộ lên Cổng", "Synced to the portal"),
    "portal_ack_median": ("Thời gian Cổng xác nhận (trung vị)", "Portal acknowledgement (median)"),
    "portal_ack_p95": ("Thời gian Cổng xác nhận (p95)", "Portal acknowledgement (p95)"),
    "figure": ("Chỉ số", "Figure"),
    "value": ("Giá trị", "Value"),
    "ledger": ("Nhật ký trao đổi", "Exchange ledger"),
    "ledger_intact": ("Toàn vẹn: {entries} bản ghi, chuỗi băm khớp", "Intact: {entries} entries, the hash chain holds"),
    "ledger_broken": (
        "KHÔNG toàn vẹn: bản ghi đầu tiên bị sai là số {seq} ({reason})",
        "NOT intact: the first bad entry is #{seq} ({reason})",
    ),
    "ledger_walked_whole": (
        "Lần kiểm tra này đã tính lại băm của toàn bộ chuỗi.",
        "This check re-hashed the whole chain.",
    ),
    "ledger_walked_on": (
        "Lần kiểm tra này tính lại băm từ bản ghi số {first} (điểm kiểm tra trước); toàn bộ chuỗi "
        "được kiểm tra lần gần nhất lúc {whole} và được kiểm tra lại toàn bộ mỗi {days} ngày.",
        "This check re-hashed from entry #{first} (the last checkpoint) on; the whole chain was "
        "last checked at {whole} and is checked whole every {days} days.",
    ),
    # datasets
    "dataset": ("Bộ dữ liệu", "Dataset"),
    "suite": ("Bộ quy tắc", "Suite"),
    "rule": ("Quy tắc", "Rule"),
    "rules": ("Quy tắc kiểm tra", "Rules"),
    "run": ("Lần chạy", "Run"),
    "runs": ("Các lần chạy", "Runs"),
    "evaluated": ("Số bản ghi áp dụng", "Evaluated"),
    "failed": ("Số lỗi", "Failed"),
    "failure_rate": ("Tỷ lệ lỗi", "Failure rate"),
    "passing_share": ("Tỷ lệ bản ghi đạt mọi quy tắc", "Records passing every rule"),
    "latest_failure_rate": ("Tỷ lệ lỗi lần gần nhất", "Latest failure rate"),
    "trend": ("Xu hướng tỷ lệ lỗi theo lần chạy", "Failure rate per run"),
    "passing_trend": ("Tỷ lệ bản ghi đạt qua các lần chạy", "Records passing everything, per run"),
    "meaning": ("Ý nghĩa", "What it means"),
    "action": ("Cần làm gì", "What to do"),
    "data_docs": ("Data Docs", "Data Docs"),
    "result": ("Kết quả", "Result"),
    "passed": ("Đạt", "Passed"),
    "not_passed": ("Không đạt", "Failed"),
    # quarantine
    "by_rule": ("Theo quy tắc", "By rule"),
    "by_source": ("Theo hệ thống nguồn", "By source system"),
    "source_system": ("Hệ thống nguồn", "Source system"),
    "operator": ("Đơn vị cần liên hệ", "Who to contact"),
    "records": ("Số bản ghi", "Records"),
    "open": ("Đang cách ly", "Open"),
    "quarantine_open": ("Bản ghi đang cách ly", "Records in quarantine"),
    "released": ("Đã xử lý", "Released"),
    "masked_key": ("Số định danh (đã che)", "Personal id (masked)"),
    "quarantined_at": ("Thời điểm cách ly", "Quarantined at"),
    "quarantine_list": ("Danh sách bản ghi cách ly", "Quarantined records"),
    "reasons": ("Lý do và cách xử lý", "Reasons and what to do"),
    # exchanges
    "volumes": ("Khối lượng trao đổi theo ngày", "Exchange volumes per day"),
    "day": ("Ngày", "Day"),
    "agency": ("Cơ quan", "Agency"),
    "purpose": ("Mục đích", "Purpose"),
    "exchange_action": ("Loại trao đổi", "Exchange"),
    "outcome": ("Kết quả", "Outcome"),
    "entries": ("Số lần", "Entries"),
    "denials": ("Yêu cầu bị từ chối", "Denied requests"),
    "denial_rule": ("Lý do từ chối", "Denial rule"),
    "exchanges_by_agency": ("Theo cơ quan, bộ dữ liệu và mục đích", "By agency, dataset and purpose"),
    "none": ("(không)", "(none)"),
    # run states (sync_run.status) and figures named in tables
    "started": ("Đang chạy", "Started"),
    "extracted": ("Đã trích xuất", "Extracted"),
    "audited": ("Đã kiểm tra", "Audited"),
    "superseded": ("Bị thay thế", "Superseded"),
    "run_started": ("Thời điểm bắt đầu", "Started at"),
    "flows_fresh": ("Luồng đúng lịch", "Flows on schedule"),
    # the province's systems (config/province_systems.yaml)
    "systems_connected": ("Hệ thống kết nối qua LGSP", "Systems connected through the LGSP"),
    "n_of_m": ("{n} / {m}", "{n} of {m}"),
    "connected_systems": ("Hệ thống thông tin của tỉnh", "The province's information systems"),
    "system": ("Hệ thống", "System"),
    "owner": ("Đơn vị chủ quản", "Owner"),
    "connection": ("Kết nối qua LGSP", "Connected through the LGSP"),
    "connected": ("Đã kết nối", "Connected"),
    "not_connected": ("Chưa kết nối", "Not yet connected"),
    "connected_by": ("Kết nối bởi", "Connected by"),
}


def label(key: str, language: str, **values: object) -> str:
    """The label in ``language``, with ``{placeholders}`` filled.

    Raises:
        KeyError: no such label (a template typo: fail the build, do not print a key).
    """
    vi, en = LABELS[key]
    text = vi if language == "vi" else en
    return text.format(**values) if values else text


def number(value: int | float | None, language: str) -> str:
    """A count with the language's thousands separator; an em dash for none."""
    if value is None:
        return "—"
    text = f"{int(value):,}"
    return text.replace(",", ".") if language == "vi" else text


def percent(share: float | None, language: str, places: int = 1) -> str:
    """A share (0..1) as a percentage, with the language's decimal mark."""
    if share is None:
        return "—"
    text = f"{share * 100:.{places}f} %"
    return text.replace(".", ",") if language == "vi" else text


def timestamp(at: datetime | None, language: str) -> str:
    """A store timestamp (naive UTC) to the minute, as the language writes dates."""
    if at is None:
        return "—"
    return at.strftime("%d/%m/%Y %H:%M UTC") if language == "vi" else at.strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float | None, language: str) -> str:
    """A duration in seconds, to one decimal."""
    if value is None:
        return "—"
    text = f"{value:.1f} s"
    return text.replace(".", ",") if language == "vi" else text
