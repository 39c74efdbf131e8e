"""dlt's side of benchmarks/civil_event_sync.py: its ``rest_api`` source on the same endpoint and database.

Run by that benchmark with the interpreter of a virtualenv of its own that holds ``dlt[sqlalchemy]`` (dlt is a
benchmark-only dependency: its pins must not meet Airflow's), never imported by lgsp:

    python benchmarks/dlt_civil_events.py BASE_URL CLIENT_ID CLIENT_SECRET SQLITE_PATH PAGE_SIZE

What it does is what the civil-status declaration says, in dlt's words: OAuth2 client credentials,
the cursor in the body (``next_cursor`` -> ``cursor``), the incremental ``since`` from the newest
``ThoiDiemGhiNhan``, records under ``items``, merged on ``MaSuKien`` into SQLite. It prints one
line ``RESULT {"read": N, "seconds": S}``; the seconds are the pipeline's run, dlt imported beforehand.
"""

from __future__ import annotations

import json
import sys
import time

import dlt
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    """Run the pipeline once and print what it read and how long it took."""
    base_url, client_id, secret, sqlite_path, page_size = sys.argv[1:6]
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": OAuth2ClientCredentials(
                    access_token_url=f"{base_url}/oauth/token", client_id=client_id, client_secret=secret
                ),
                "paginator": JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
            },
            "resources": [
                {
                    "name": "civil_event",
                    "primary_key": "MaSuKien",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "events",
                        "data_selector": "items",
                        "params": {
                            "limit": int(page_size),
                            "since": {
                                "type": "incremental",
                                "cursor_path": "ThoiDiemGhiNhan",
                                "initial_value": "1800-01-01T00:00:00Z",
                            },
                        },
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="civil_events_bench",
        destination=dlt.destinations.sqlalchemy(f"sqlite:///{sqlite_path}"),
        dataset_name="dlt_civil",
        pipelines_dir=f"{sqlite_path}.dlt",
    )
    started = time.perf_counter()
    info = pipeline.run(source)
    seconds = time.perf_counter() - started
    read = sum(
        count for table, count in pipeline.last_trace.last_normalize_info.row_counts.items() if table == "civil_event"
    )
    del info
    print("RESULT " + json.dumps({"read": read, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
