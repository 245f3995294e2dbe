"""SQLAlchemy tables: instance state, the projections people query, audit and outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # every model here is declared with __tablename__, so mapped to a Table (SQLAlchemy types it FromClause)
        __table__: ClassVar[Table]


BigId = BigInteger().with_variant(Integer, "sqlite")


def SearchText(length: int):
    """Text compared byte-wise, so a prefix is one index range (collation "C" on PostgreSQL; SQLite's BINARY)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Centre(Base):
    __tablename__ = "centres"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    labour_rate: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Whether its quotes' amounts include tax: the tracking page says so under the quote (migration 0019).
    prices_include_tax: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    centre_code: Mapped[str | None] = mapped_column(ForeignKey("centres.code"), nullable=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # SLA escalations (migration 0005)
    # Sessions signed before the last logout, password change or disable carry an older epoch: refused (0013).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Failed logins since the last login on the staff pages, shown there at the next one (0015).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failed_login_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A partner's organisation (role `partner`, migration 0020): what the partner may see; null for staff.
    # No foreign key: added in place by 0020 (a copy of users is refused on SQLite by the rows pointing at it).
    organisation_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)


class KnownLoginAddress(Base):
    """An address a user logged in from (migration 0015): the login throttle's account- and address-wide delays,
    which strangers' failures can set, do not hold the account's own addresses (engine.services.throttle)."""

    __tablename__ = "known_login_addresses"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """An Idempotency-Key a caller sent with a request that created an RMA (migration 0016): the same key with
    the same body within 24 hours answers that RMA again (engine.services.idempotency). `scope` is the API user
    ('user:<name>') or 'requests' for anonymous online requests; `body_sha256` is the canonical body's digest."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    rma_id: Mapped[int] = mapped_column(BigId, ForeignKey("rmas.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Bundle(Base):
    """An immutable deployed version of the process files for the base or one centre."""

    __tablename__ = "bundles"
    __table_args__ = (UniqueConstraint("centre_code", "version", name="uq_bundles_centre_version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    centre_code: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    hash: Mapped[str] = mapped_column(String(64), index=True)
    # ~180 KB of XML and JSON: loaded when read, not with every bundle row (opening an RMA reads the row)
    files: Mapped[dict] = mapped_column(JSON, deferred=True)
    note: Mapped[str] = mapped_column(Text, default="")
    deployed_by: Mapped[str] = mapped_column(String(120), default="system")
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rma(Base):
    __tablename__ = "rmas"
    __table_args__ = (
        Index("ix_rmas_centre_status_id", "centre_code", "status", "id"),
        Index("ix_rmas_customer_email", "customer_email"),
        Index("ix_rmas_serial_number", "serial_number"),
        Index("ix_rmas_customer_phone", "customer_phone"),
        Index("ix_rmas_centre_closed_at", "centre_code", "closed_at"),
        Index("ix_rmas_organisation_id_id", "organisation_id", "id"),
        Index("ix_rmas_batch_id", "batch_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    centre_code: Mapped[str] = mapped_column(ForeignKey("centres.code"))
    status: Mapped[str] = mapped_column(String(32), default="received")
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254))
    customer_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    customer_language: Mapped[str] = mapped_column(String(8), default="en")
    product_model: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(120))
    purchase_date: Mapped[date] = mapped_column(Date)
    product_category: Mapped[str | None] = mapped_column(String(120), nullable=True)
    fault_description: Mapped[str] = mapped_column(Text)
    in_warranty: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    quote_total: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # the customer's choice
    repeat_of_id: Mapped[int | None] = mapped_column(BigId, nullable=True)  # a repair of the same unit <= 90 days ago
    # A partner's unit (migration 0020): its organisation, the batch it came in, where it was installed and the
    # partner's own reference for it; all null for a consumer's RMA.
    # (no foreign keys: added in place by 0020, as a copy of rmas is refused on SQLite by the rows pointing at it)
    organisation_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    site: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_reference: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # Warranty by serial (migration 0021): the date the warranty check counts from and what it is (installation,
    # purchase or ship, engine.services.register.warranty_start), the serial reception found on the unit when it
    # differs from the declared one, and the parcel a batch unit went back in.
    warranty_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    warranty_basis: Mapped[str | None] = mapped_column(String(16), nullable=True)
    received_serial: Mapped[str | None] = mapped_column(String(120), nullable=True)
    return_shipment_id: Mapped[int | None] = mapped_column(BigId, nullable=True)  # shipments.id (no FK: 0021)


class RmaSearchTerm(Base):
    """What an RMA is found by: folded words of its number, serial, customer name and email (engine.store.search).

    Written by the unit of work (engine.store.search_index) whenever one of those fields changes (opening an
    RMA, any later edit),
    by migration 0010 for older rows and by bench/bulkgen.py. Searches are prefix ranges on `term`.
    """

    __tablename__ = "rma_search_terms"
    __table_args__ = (Index("ix_rma_search_terms_term", "term", "centre_code", "rma_id"), {"sqlite_with_rowid": False})
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), primary_key=True)
    term: Mapped[str] = mapped_column(SearchText(120), primary_key=True)
    centre_code: Mapped[str] = mapped_column(String(16))


class Instance(Base):
    """SpiffWorkflow state of one RMA, stored without the spec (specs live in the bundle)."""

    __tablename__ = "instances"
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id"), index=True)
    serializer_version: Mapped[str] = mapped_column(String(16))
    # ~50 KB of JSON: read only when a command has to restore the workflow (the instance cache usually
    # has it), not with every instance row (each command reads its instance row to lock and version it)
    state: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)

    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """Projection of human tasks: open ones form the inboxes, completed ones the lead times."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_inbox", "status", "centre_code", "role", "created_at"),
        Index("ix_tasks_assignee", "assignee", "status"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    centre_code: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    form_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # What was submitted when it was completed (the validated form data): the service record and the completed
    # task's page show it; the audit trail's task_completed event holds the same, hash-chained.
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class AuditEvent(Base):
    """Append-only and hash-chained: who did what, when, on which task, with what data."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_rma_id", "rma_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int | None] = mapped_column(ForeignKey("rmas.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(64))
    task_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    customer_visible: Mapped[bool] = mapped_column(Boolean, default=False)
    # Tamper evidence (engine.store.audit): sha256 over prev_hash + the canonical JSON of the fields above,
    # chained per RMA. Written once by engine.store.audit at commit; nothing updates or deletes a row.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """Notifications to send after commit; the worker delivers them at least once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"), Index("ix_outbox_rma_id", "rma_id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int | None] = mapped_column(ForeignKey("rmas.id"), nullable=True)
    rma_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


# --- the customer's side (migration 0004) -------------------------------------------------------


class Milestone(Base):
    """A BPMN element marked `notifyCustomer` that completed: one row per occurrence, never two."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("rma_id", "task_id", name="uq_milestones_rma_task"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element: Mapped[str] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(String(120))
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RmaPhoto(Base):
    """An intake photo: the bytes live under RMA_UPLOAD_DIR, named by their SHA-256."""

    __tablename__ = "rma_photos"
    __table_args__ = (UniqueConstraint("rma_id", "sha256", name="uq_rma_photos_rma_sha256"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200), default="")
    path: Mapped[str] = mapped_column(String(300))
    task_name: Mapped[str | None] = mapped_column(String(120), nullable=True)  # set when a completed form cites it
    uploaded_by: Mapped[str] = mapped_column(String(120))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RmaEstimate(Base):
    """The latest completion estimate of an RMA, recomputed at every milestone."""

    __tablename__ = "rma_estimates"
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), primary_key=True)
    earliest: Mapped[date] = mapped_column(Date)
    latest: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))  # history | defaults | done
    samples: Mapped[int] = mapped_column(Integer, default=0)
    basis: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Quote(Base):
    """One version of an RMA's quote; a new version voids the older ones and needs its own answer."""

    __tablename__ = "quotes"
    __table_args__ = (UniqueConstraint("rma_id", "version", name="uq_quotes_rma_version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str] = mapped_column(String(36))
    lines: Mapped[list] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|declined|expired|void
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoanUnit(Base):
    """A unit a centre lends to customers while theirs is in repair."""

    __tablename__ = "loan_units"
    __table_args__ = (UniqueConstraint("centre_code", "code", name="uq_loan_units_centre_code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    centre_code: Mapped[str] = mapped_column(ForeignKey("centres.code"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Loan(Base):
    """A loan unit handed to an RMA's customer; `returned_at` empty means it is still out."""

    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_unit_open", "unit_id", "returned_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("loan_units.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(120))
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    returned_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


# --- time and operations (migration 0005) -------------------------------------------------------


class Incident(Base):
    """A task that failed while the engine ran it: the RMA waits, visibly, until retried or cancelled."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_opened", "status", "opened_at"),
        Index("ix_incidents_rma_status", "rma_id", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"))
    centre_code: Mapped[str] = mapped_column(String(16))
    task_name: Mapped[str | None] = mapped_column(String(120), nullable=True)  # BPMN id of the failing element
    task_title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str] = mapped_column(Text)  # what staff see: the task and what failed, never a remote answer
    # what the other system answered (a service task's error body), bounded: operators only (migration 0014)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | cancelled
    status_before: Mapped[str] = mapped_column(String(32))  # the RMA's status when it failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookSubscription(Base):
    """An integrator's URL for RMA events, signed with its own secret; a centre's, or all centres'."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # kept to sign payloads (HMAC needs the key itself)
    events: Mapped[list] = mapped_column(JSON)
    centre_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """The delivery log: one row per attempt to POST an outbox message to a subscriber."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


# The manager dashboard's figures: open tasks by due time (SLA breaches now), completed tasks by
# completion time (lead time per stage), closed RMAs by closing time (end to end).
Index("ix_tasks_status_due", HumanTask.status, HumanTask.due_at)
# covering (migration 0011): where RMAs wait, open now and completed in the window, per element
Index(
    "ix_tasks_waits",
    HumanTask.status,
    HumanTask.completed_at,
    HumanTask.centre_code,
    HumanTask.stage,
    HumanTask.name,
    HumanTask.created_at,
)
# covering, in GROUP BY order: the dashboard's lead time per stage reads the index alone (migration 0009)
Index(
    "ix_tasks_stage_visits",
    HumanTask.status,
    HumanTask.centre_code,
    HumanTask.stage,
    HumanTask.rma_id,
    HumanTask.completed_at,
    HumanTask.created_at,
    HumanTask.role,
)
Index("ix_rmas_closed", Rma.closed_at, Rma.centre_code, Rma.outcome, Rma.created_at)  # covering (0011)
# the inbox by due time (GET /api/tasks?sort=due): a role's open tasks of a centre read in the page's order (0022)
Index(
    "ix_tasks_inbox_due",
    HumanTask.status,
    HumanTask.centre_code,
    HumanTask.role,
    HumanTask.due_at,
    HumanTask.created_at,
    HumanTask.id,
)
# the promise-slip sweep (engine.services.promises): the estimates not done yet, soonest promise first (0022)
Index(
    "ix_rma_estimates_open_latest",
    RmaEstimate.latest,
    RmaEstimate.rma_id,
    sqlite_where=text("source != 'done'"),
    postgresql_where=text("source != 'done'"),
)
Index(
    "ix_audit_sla_breached",
    AuditEvent.at,
    AuditEvent.rma_id,
    sqlite_where=text("kind = 'sla_breached'"),
    postgresql_where=text("kind = 'sla_breached'"),
)  # breaches per month (0011)


class StageVisit(Base):
    """One RMA's time in one stage: the summed open time of its completed human tasks there (managers' excluded).

    The dashboard's lead time per stage reads these instead of grouping every completed task: written by
    engine.services.stage_visits after each step that completes a task, by migration 0011 for older rows and by
    bench/bulkgen.py. `month` ('YYYY-MM', UTC) is the month of `done_at`, the visit's last completion.
    """

    __tablename__ = "stage_visits"
    __table_args__ = (
        Index("ix_stage_visits_rma", "rma_id", "stage"),
        Index("ix_stage_visits_month", "month", "centre_code", "stage", "seconds"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"))
    centre_code: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    month: Mapped[str] = mapped_column(String(7))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float] = mapped_column(Float)


# --- trust: login and portal throttling (migration 0007) ---------------------------------------


class ThrottleCounter(Base):
    """Attempts per key ("login-pair:10.0.0.1|kim", "login-ip:10.0.0.1", "portal-ip:...") in a fixed window
    starting at window_start, or (a login's growing delay, throttle.Backoff) since the last count, at window_start.

    Kept in the database so that every web process of a deployment counts against the same limit.
    """

    __tablename__ = "throttle_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- process owners: deploy records and migrations of running RMAs (migration 0003) ----------------


class ProcessDeploy(Base):
    """How a bundle version came to be: the files uploaded, the base it builds on, what changed."""

    __tablename__ = "process_deploys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id"), unique=True)
    base_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id"), nullable=True)  # variants only
    previous_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id"), nullable=True)
    uploaded: Mapped[list] = mapped_column(JSON, default=list)  # file names as placed in the bundle
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # engine.process.diffing.bundle_changes vs previous


class ProcessMigration(Base):
    """One bulk move of running RMAs to another version; each RMA's move is also in its own audit trail."""

    __tablename__ = "process_migrations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


# --- before and beyond the repair (migration 0008) ---------------------------------------------


class CatalogueModel(Base):
    """A product model: its warranty, what a new unit costs, its successor and its known issues."""

    __tablename__ = "catalogue_models"
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_key: Mapped[str] = mapped_column(String(200), unique=True)  # casefolded, for lookups by name
    category: Mapped[str] = mapped_column(String(120))
    warranty_months: Mapped[int] = mapped_column(Integer)
    replacement_value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    successor_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    known_issues: Mapped[list] = mapped_column(JSON, default=list)  # [{code, question, steps: [...]}]
    # days after the maker's ship date before the warranty starts counting (migration 0021; the unit's shelf time)
    ship_grace_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    updated_by: Mapped[str] = mapped_column(String(120), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CentreLocation(Base):
    """Where a centre is and when it is open: what the public centre finder lists."""

    __tablename__ = "centre_locations"
    centre_code: Mapped[str] = mapped_column(ForeignKey("centres.code"), primary_key=True)
    address: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(120))
    postcode: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    opening_hours: Mapped[list] = mapped_column(JSON, default=list)  # lines such as "Mon-Fri 09:00-18:00"
    phone: Mapped[str] = mapped_column(String(40), default="")
    accepts_online: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # customers write here (0019)


class RmaRequest(Base):
    """How an RMA came in: the channel, and for online requests the proof of purchase and the sender."""

    __tablename__ = "rma_requests"
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # online | counter
    proof_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    proof_content_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    proof_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proof_filename: Mapped[str] = mapped_column(String(200), default="")
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    parcel_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parcel_received_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class GoodwillProposal(Base):
    """A discount or fee waiver proposed by staff; it changes the quote only once a manager approved it."""

    __tablename__ = "goodwill_proposals"
    __table_args__ = (Index("ix_goodwill_centre_status", "centre_code", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id"), index=True)
    centre_code: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # discount | fee_waiver
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # what it takes off the quote
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected | void
    proposed_by: Mapped[str] = mapped_column(String(120))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_notes: Mapped[str] = mapped_column(Text, default="")


# --- partners and batches (issue 17, migration 0020) -------------------------------------------


class Organisation(Base):
    """An installer, dealer or distributor served by one centre; its users have the role `partner`."""

    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(16))  # installer | dealer | distributor
    centre_code: Mapped[str] = mapped_column(ForeignKey("centres.code"), index=True)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254))  # the units' messages go here
    contact_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Batch(Base):
    """Many units a partner sends at once: each unit is an RMA of its own (rmas.batch_id); numbered B-<centre>-<id>."""

    __tablename__ = "batches"
    __table_args__ = (
        Index("ix_batches_organisation_id_id", "organisation_id", "id"),
        Index("ix_batches_centre_code_id", "centre_code", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    centre_code: Mapped[str] = mapped_column(ForeignKey("centres.code"))
    organisation_id: Mapped[int] = mapped_column(BigId, ForeignKey("organisations.id"))
    reference: Mapped[str] = mapped_column(String(120), default="")
    unit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- batches in and out, warranty by serial (issue 17, migration 0021) --------------------------


class RegisteredUnit(Base):
    """A unit the maker sold: serial, model, ship date, the partner it went to and its registered installation."""

    __tablename__ = "registered_units"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(120))
    serial_key: Mapped[str] = mapped_column(String(120), unique=True)  # stripped and casefolded, for lookups
    model: Mapped[str] = mapped_column(String(200))
    shipped_on: Mapped[date] = mapped_column(Date)
    organisation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("organisations.id"), nullable=True, index=True
    )
    installed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BatchArrival(Base):
    """One parcel of a batch booked in: the units that arrived, the declared serials missing, the unexpected ones."""

    __tablename__ = "batch_arrivals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigId, ForeignKey("batches.id"), index=True)
    arrived: Mapped[list] = mapped_column(JSON, default=list)  # [rma number, ...]
    missing: Mapped[list] = mapped_column(JSON, default=list)  # [serial, ...] declared, not in this parcel
    unexpected: Mapped[list] = mapped_column(JSON, default=list)  # [serial, ...] in the parcel, not declared
    received_by: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shipment(Base):
    """One parcel back to a partner with finished units of one batch (each unit's rmas.return_shipment_id)."""

    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigId, ForeignKey("batches.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(80))
    tracking_number: Mapped[str] = mapped_column(String(120))
    unit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
