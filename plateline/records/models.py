"""SQLAlchemy 2 models of the traceability records.

One database may hold several lines (PostgreSQL at a large site): every
line-scoped row carries ``line_id``. Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ImportBatch(Base):
    """One order file that was imported (accepted whole)."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    rows: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)


class Order(Base):
    """An order of the licensing office, as last imported."""

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    product: Mapped[str] = mapped_column(String(64))
    plate_no: Mapped[str | None] = mapped_column(String(16))
    plate_type: Mapped[str | None] = mapped_column(String(16))
    plate_count: Mapped[int] = mapped_column(Integer)
    waybill_no: Mapped[str] = mapped_column(String(20))
    recipient_name: Mapped[str] = mapped_column(Text)
    recipient_phone: Mapped[str] = mapped_column(String(32))
    recipient_address: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | cancelled
    # Set when a tray of this order first entered the line: its fields are frozen from then on.
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Item(Base):
    """One tray's trip down the line: the unit of traceability."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("line_id", "plc_boot", "enter_seq", name="uq_item_enter_event"),
        Index("ix_items_open", "line_id", "closed_at"),
        Index("ix_items_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(32))
    tray: Mapped[int] = mapped_column(Integer)
    plc_boot: Mapped[int] = mapped_column(Integer)
    enter_seq: Mapped[int] = mapped_column(BigInteger)  # absolute event number since PLC boot
    order_id: Mapped[str | None] = mapped_column(String(64))  # barcode read, known or not
    recipe_id: Mapped[str | None] = mapped_column(String(64))
    recipe_version: Mapped[str | None] = mapped_column(String(32))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Verdict the controller decided (pass / reject) and its reason name.
    verdict: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(32))
    verdict_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Verdict-ring bookkeeping: absolute verdict number planned, and whether the PLC has it.
    verdict_seq: Mapped[int | None] = mapped_column(BigInteger)
    verdict_written: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the PLC reported at the gate (outfeed / reject_bin) or lost.
    outcome: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    results: Mapped[list[StationResult]] = relationship(
        back_populates="item", order_by="StationResult.id", cascade="all, delete-orphan"
    )

    def public_id(self) -> str:
        """The stable item id used in exports, the HMI and frame file names."""
        return f"{self.line_id}-{self.id:08d}"


class StationResult(Base):
    """What one station found for one item."""

    __tablename__ = "station_results"
    __table_args__ = (UniqueConstraint("item_id", "station", name="uq_result_item_station"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    station: Mapped[str] = mapped_column(String(16))  # INFEED, VISION, PACK, WEIGH, LABEL, GATE
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))  # reason name, NONE when ok
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    item: Mapped[Item] = relationship(back_populates="results")


class PlcEvent(Base):
    """Every event taken from a PLC event ring, stored before it is acknowledged."""

    __tablename__ = "plc_events"
    __table_args__ = (UniqueConstraint("line_id", "plc_boot", "seq", name="uq_event"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(32))
    plc_boot: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)  # absolute event number since PLC boot
    type: Mapped[int] = mapped_column(Integer)
    tray: Mapped[int] = mapped_column(Integer)
    arg: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))


class LineCursor(Base):
    """Where the controller stands in the PLC's rings; survives restarts."""

    __tablename__ = "line_cursors"

    line_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plc_boot: Mapped[int] = mapped_column(Integer)
    events_handled: Mapped[int] = mapped_column(BigInteger, default=0)  # absolute count
    verdicts_planned: Mapped[int] = mapped_column(BigInteger, default=0)  # absolute count
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OperatorAction(Base):
    """An operator's command or decision (start, stop, reject by hand, import …)."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
