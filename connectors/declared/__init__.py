"""The generic connector a system declaration drives: REST or SOAP, four paging styles, one record mapper.

``DeclaredSource(system, stream_name, url=..., ...)`` reads one declared stream page by
page; each ``DeclaredPage`` satisfies the pipeline's staging protocol (number, records
with payload, fields, rejection and content hash). Nothing here names a system: what
differs between systems is in their declarations (``config/systems/*.yaml``).
"""

from connectors.declared.mapping import DeclaredRecord, RecordMapper
from connectors.declared.source import DeclaredPage, DeclaredSource, PageStats

__all__ = ["DeclaredPage", "DeclaredRecord", "DeclaredSource", "PageStats", "RecordMapper"]
