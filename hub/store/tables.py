"""The hub's tables. Alembic migrations (hub/store/migrations) create and change them.

Staging is a landing zone: every content column is text (dates as ISO strings), so
a record that breaks a rule still lands and can be audited and quarantined with
its reason. The golden ``citizen`` table holds typed values only.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

RUN_ID = String(250)
PERSONAL_ID = String(32)

# Golden record: one row per personal id, the latest verified state.
citizen = Table(
    "citizen",
    metadata,
    Column("personal_id", PERSONAL_ID, primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("gender", String(8), nullable=False),
    Column("nationality", String(8), nullable=False),
    Column("ethnicity", String(8), nullable=False),
    Column("religion", String(8), nullable=False),
    Column("hometown", String(200), nullable=False),
    Column("residence_province", String(8), nullable=False),
    Column("residence_commune", String(8), nullable=False),
    Column("residence_detail", String(300), nullable=False),
    Column("father_id", PERSONAL_ID),
    Column("mother_id", PERSONAL_ID),
    Column("spouse_id", PERSONAL_ID),
    Column("marital_status", String(12), nullable=False),
    Column("death_date", Date),
    Column("source_updated_at", DateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    # Per-field provenance, JSON: {field: {"system", "source_updated_at", "fetched_at", "run_id"}}.
    # One column rather than a row per field: 15 rows per citizen tripled the publish time.
    Column("provenance", Text, nullable=False),
    Column("published_run_id", RUN_ID, nullable=False),
    Column("published_at", DateTime, nullable=False),
)

# One row per fetched record per run. Content columns are text on purpose.
staging_citizen = Table(
    "staging_citizen",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, nullable=False, index=True),
    Column("page_no", Integer, nullable=False),
    Column("personal_id", Text),
    Column("full_name", Text),
    Column("birth_date", Text),
    Column("gender", Text),
    Column("nationality", Text),
    Column("ethnicity", Text),
    Column("religion", Text),
    Column("hometown", Text),
    Column("residence_province", Text),
    Column("residence_commune", Text),
    Column("residence_detail", Text),
    Column("father_id", Text),
    Column("mother_id", Text),
    Column("spouse_id", Text),
    Column("marital_status", Text),
    Column("death_date", Text),
    Column("source_updated_at", Text),
    # Set when the wire record could not be mapped at all (breaks the contract).
    Column("contract_error", Text),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("fetched_at", DateTime, nullable=False),
)

# Reference data: today's communes (vietnam-provinces), for the residence rule.
admin_unit = Table(
    "admin_unit",
    metadata,
    Column("commune_code", String(8), primary_key=True),
    Column("province_code", String(8), nullable=False),
)

# What the audit found: keys and rule names only, never values.
audit_finding = Table(
    "audit_finding",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("row_id", Integer, primary_key=True),
    Column("rule", String(80), primary_key=True),
)

# One row per rule per run: the auditors' summary.
quality_result = Table(
    "quality_result",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("rule", String(80), primary_key=True),
    Column("expectation", String(120), nullable=False),
    Column("evaluated", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("checked_at", DateTime, nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("stream", String(80), nullable=False),
    Column("run_id", RUN_ID, nullable=False, index=True),
    Column("personal_id", Text),
    Column("rules", Text, nullable=False),  # comma-separated rule names, sorted
    Column("payload", Text, nullable=False),  # the raw wire record, for reprocessing
    Column("payload_hash", String(64), nullable=False),
    Column("quarantined_at", DateTime, nullable=False),
    Column("last_seen_run_id", RUN_ID, nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    UniqueConstraint("stream", "payload_hash"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("stream", String(80), primary_key=True),
    Column("cursor", String(64), nullable=False),
    Column("run_id", RUN_ID, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

sync_run = Table(
    "sync_run",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("stream", String(80), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("cursor_from", String(64)),
    Column("cursor_to", String(64)),
    Column("pages", Integer, nullable=False, default=0),
    Column("read", Integer, nullable=False, default=0),
    Column("published", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rules_failed", Text),  # JSON {rule: rows}
    Column("extract_seconds", Float),
    Column("audit_seconds", Float),
    Column("publish_seconds", Float),
    Column("error", Text),
)

Index("ix_staging_citizen_run_person", staging_citizen.c.run_id, staging_citizen.c.personal_id)

# --- civil status (Ministry of Justice) ------------------------------------------

# One row per fetched event per run; text on purpose, like staging_citizen.
staging_civil_event = Table(
    "staging_civil_event",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, nullable=False, index=True),
    Column("page_no", Integer, nullable=False),
    Column("event_id", Text),
    Column("event_type", Text),
    Column("personal_id", Text),
    Column("spouse_id", Text),
    Column("event_date", Text),
    Column("commune", Text),
    Column("recorded_at", Text),
    Column("contract_error", Text),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("fetched_at", DateTime, nullable=False),
)
Index("ix_staging_civil_event_run_event", staging_civil_event.c.run_id, staging_civil_event.c.event_id)

# Every accepted event, and what it did to the golden records.
# outcome: applied | no_change | conflict | pending (subject not in the population data yet) | linked
civil_event = Table(
    "civil_event",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(16), nullable=False),
    Column("personal_id", PERSONAL_ID, nullable=False, index=True),
    Column("spouse_id", PERSONAL_ID),
    Column("event_date", Date, nullable=False),
    Column("commune", String(8), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("outcome", String(16), nullable=False, index=True),
    Column("run_id", RUN_ID, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),  # when a pending event found its subject
)

# Sources that disagree about a field: both values, with their provenance, never overwritten silently.
field_conflict = Table(
    "field_conflict",
    metadata,
    Column("conflict_id", Integer, primary_key=True, autoincrement=True),
    Column("personal_id", PERSONAL_ID, nullable=False, index=True),
    Column("field", String(40), nullable=False),
    Column("kept_value", Text),
    Column("kept_source", String(60), nullable=False),
    Column("kept_updated_at", DateTime, nullable=False),
    Column("other_value", Text),
    Column("other_source", String(60), nullable=False),
    Column("other_updated_at", DateTime, nullable=False),
    Column("run_id", RUN_ID, nullable=False),
    Column("detected_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open | resolved (the sources agree again)
    Column("resolved_at", DateTime),
    UniqueConstraint("personal_id", "field", "other_source", "other_updated_at"),
)

# --- dossiers (provincial one-stop system) and the portal outbox ---------------------

# One row per fetched dossier per run; text on purpose, like the other staging tables.
staging_dossier = Table(
    "staging_dossier",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, nullable=False, index=True),
    Column("page_no", Integer, nullable=False),
    Column("dossier_id", Text),
    Column("procedure_code", Text),
    Column("personal_id", Text),  # the applicant (named so the generic quarantine step finds it)
    Column("channel", Text),  # online | in_person
    Column("received_at", Text),
    Column("due_at", Text),
    Column("status", Text),
    Column("history", Text),  # JSON [[status, at], ...] in the source's order
    Column("receiving_unit", Text),
    Column("processing_unit", Text),
    Column("source_updated_at", Text),
    Column("contract_error", Text),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("fetched_at", DateTime, nullable=False),
)
Index("ix_staging_dossier_run_dossier", staging_dossier.c.run_id, staging_dossier.c.dossier_id)

dossier = Table(
    "dossier",
    metadata,
    Column("dossier_id", String(64), primary_key=True),
    Column("procedure_code", String(32), nullable=False),
    Column("applicant_id", PERSONAL_ID, nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("due_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_at", DateTime, nullable=False),
    Column("completed_at", DateTime),  # when it reached a terminal status
    Column("receiving_unit", String(16), nullable=False),
    Column("processing_unit", String(16), nullable=False),
    Column("source_updated_at", DateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("run_id", RUN_ID, nullable=False),
    Column("published_at", DateTime, nullable=False),
)

# Every status a dossier went through, as the one-stop system reported it.
dossier_status = Table(
    "dossier_status",
    metadata,
    Column("dossier_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("at", DateTime, nullable=False),
)

# Cross-boundary procedure: received at the provincial centre, decided by the applicant's commune.
# state: routed -> decided -> returned
dossier_routing = Table(
    "dossier_routing",
    metadata,
    Column("dossier_id", String(64), primary_key=True),
    Column("competent_unit", String(16), nullable=False, index=True),
    Column("transfer_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("routed_at", DateTime, nullable=False),
    Column("result", String(16)),
    Column("decided_at", DateTime),
    Column("returned_at", DateTime),
)

# Transactional outbox: written in the transaction that changes the data, delivered afterwards.
# state: pending -> sent -> acknowledged, or dead (permanent error / too many attempts); replay -> pending
outbox = Table(
    "outbox",
    metadata,
    Column("message_id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(60), nullable=False),  # e.g. portal.dossier_status
    Column("aggregate_id", String(64), nullable=False),  # e.g. the dossier id; order is kept per aggregate
    Column("sequence", Integer, nullable=False),
    Column("payload", Text, nullable=False),  # JSON, the body to send
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text),
    Column("ack_id", String(128)),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("acknowledged_at", DateTime),
    UniqueConstraint("topic", "aggregate_id", "sequence"),
)
# Open messages (pending, sent) by topic in message order: where a delivery pass starts, past the
# acknowledged history (migration 0009). The predicate is literal SQL so both planners can prove it.
OUTBOX_OPEN = "state IN ('pending', 'sent')"
Index(
    "ix_outbox_open",
    outbox.c.topic,
    outbox.c.message_id,
    postgresql_where=text(OUTBOX_OPEN),
    sqlite_where=text(OUTBOX_OPEN),
)

# --- once-only sharing: agencies, agreements, clients, consent, subscriptions, the audit ledger ---

Index("ix_citizen_published_at", citizen.c.published_at)  # the change feed and push read by time
Index("ix_citizen_published_run_id", citizen.c.published_run_id)  # what one run changed
Index("ix_civil_event_published_at", civil_event.c.published_at)  # the civil-event change feed

# Loaded from config/sharing/*.yaml (hub.sharing.registry): the declaration is the source of truth.
agency = Table(
    "agency",
    metadata,
    Column("agency_code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("contact", String(200), nullable=False),
    Column("push_url", Text),  # where pushes go; None: the agency only pulls
    Column("loaded_at", DateTime, nullable=False),
)

# agency x dataset x fields x purpose x legal basis x validity. Deny by default: no row, no data.
agreement = Table(
    "agreement",
    metadata,
    Column("agreement_id", String(64), primary_key=True),
    Column("agency_code", String(32), nullable=False, index=True),
    Column("dataset", String(40), nullable=False),
    Column("fields", Text, nullable=False),  # comma-separated canonical field names, sorted
    Column("purpose", String(60), nullable=False),
    Column("legal_basis", String(300), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),  # None: open-ended
    Column("loaded_at", DateTime, nullable=False),
    # The citizen's consent is needed for each read (the record's subject); never pushed.
    Column("consent_required", Boolean, nullable=False, default=False, server_default=false()),
)

# OAuth2 clients of agencies. The secret is stored as a salted PBKDF2 hash, never in clear.
api_client = Table(
    "api_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("agency_code", String(32), nullable=False, index=True),
    Column("role", String(16), nullable=False),  # agency | registrar (records citizens' consents)
    Column("secret_hash", String(200), nullable=False),
    Column("scopes", Text, nullable=False),  # comma-separated datasets the client may ask tokens for
    Column("active", Boolean, nullable=False, default=True),
    Column("loaded_at", DateTime, nullable=False),
)

# A citizen's explicit consent: one procedure, one agency, one purpose, until it expires or is revoked.
consent = Table(
    "consent",
    metadata,
    Column("consent_id", String(64), primary_key=True),
    Column("personal_id", PERSONAL_ID, nullable=False, index=True),
    Column("agency_code", String(32), nullable=False),
    Column("procedure_code", String(32), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("granted_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("recorded_by", String(64), nullable=False),  # the registrar client that took the request
)

# An agency's standing request for pushes of one dataset's changes, under one purpose's agreement.
subscription = Table(
    "subscription",
    metadata,
    Column("subscription_id", Integer, primary_key=True, autoincrement=True),
    Column("agency_code", String(32), nullable=False),
    Column("dataset", String(40), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("agency_code", "dataset", "purpose"),
)

# Append-only, hash-chained record of every exchange. No personal value in clear: record keys are
# keyed hashes (HMAC-SHA256), and ``detail`` says which rule denied, never what the record held.
audit_ledger = Table(
    "audit_ledger",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime, nullable=False, index=True),
    Column("correlation_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # pull | push | api_read | change_feed | prefill | consent_* | ...
    Column("client", String(64), nullable=False),  # who: a client id, a flow, a system
    Column("agency_code", String(32)),
    Column("purpose", String(60)),
    Column("legal_basis", String(300)),
    Column("dataset", String(40)),
    Column("fields", Text, nullable=False),  # comma-separated
    Column("record_count", Integer, nullable=False),
    Column("record_keys", Text, nullable=False),  # comma-separated keyed hashes (at most a few), or a digest
    Column("outcome", String(32), nullable=False),  # ok | denied | failed | ...
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

# One row: the ledger's newest entry. Updating it first serialises appends on SQLite and PostgreSQL alike.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("head_id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

# Each walk that found the ledger intact, and the entry it ended on: the next walk need only re-hash the
# entries after it (hub.ledger.verify_from_checkpoint). A shortcut, not an anchor against an insider:
# a walk of the whole chain still runs every week, and auditors keep the newest entry_hash themselves.
ledger_checkpoint = Table(
    "ledger_checkpoint",
    metadata,
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("verified_at", DateTime, nullable=False),
    Column("whole_chain", Boolean, nullable=False),  # the walk began at entry 1
)

# --- Great Expectations results, for the auditors' Data Docs ---------------------------

# One row per audited run: GX's own validation result, so the report can render it with GX's Data
# Docs long after the audit. Sanitized before it is stored (quality.report.gx_results): counts, rule
# names and batch names only; no row key, no value, no query text. A re-audit replaces the row.
validation_result = Table(
    "validation_result",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("suite", String(80), nullable=False),
    Column("validated_at", DateTime, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("document", Text, nullable=False),  # JSON, ExpectationSuiteValidationResult.to_json_dict()
)
