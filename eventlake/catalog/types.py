"""The small vocabulary event types are declared in, and what each field type derives to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

DOMAINS = ("game", "bank", "market")
Domain = Literal["game", "bank", "market"]


@dataclass(frozen=True)
class FieldType:
    """Base of field types; each subclass knows its Python, Spark, Hive and Arrow spelling."""

    def python_type(self) -> Any:
        raise NotImplementedError

    def spark_type(self) -> Any:
        raise NotImplementedError

    def hive_type(self) -> str:
        raise NotImplementedError

    def constraints(self) -> dict[str, Any]:
        """Keyword arguments for ``pydantic.Field``."""
        return {}


@dataclass(frozen=True)
class Text(FieldType):
    min_length: int = 1
    max_length: int = 64
    pattern: str | None = None

    def python_type(self) -> Any:
        return str

    def spark_type(self) -> Any:
        from pyspark.sql.types import StringType

        return StringType()

    def hive_type(self) -> str:
        return "string"

    def constraints(self) -> dict[str, Any]:
        out: dict[str, Any] = {"min_length": self.min_length, "max_length": self.max_length}
        if self.pattern:
            out["pattern"] = self.pattern
        return out


@dataclass(frozen=True)
class Choice(FieldType):
    """A string from a closed set of values."""

    values: tuple[str, ...] = ()

    def python_type(self) -> Any:
        return Literal[self.values]  # type: ignore[valid-type]

    def spark_type(self) -> Any:
        from pyspark.sql.types import StringType

        return StringType()

    def hive_type(self) -> str:
        return "string"


@dataclass(frozen=True)
class Integer(FieldType):
    ge: int | None = None
    le: int | None = None

    def python_type(self) -> Any:
        return int

    def spark_type(self) -> Any:
        from pyspark.sql.types import LongType

        return LongType()

    def hive_type(self) -> str:
        return "bigint"

    def constraints(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strict": True}
        if self.ge is not None:
            out["ge"] = self.ge
        if self.le is not None:
            out["le"] = self.le
        return out


@dataclass(frozen=True)
class Money(FieldType):
    """An exact decimal amount (never a float): DECIMAL(precision, scale) everywhere."""

    precision: int = 18
    scale: int = 2
    ge: Decimal | None = Decimal(0)
    le: Decimal | None = None

    def python_type(self) -> Any:
        return Decimal

    def spark_type(self) -> Any:
        from pyspark.sql.types import DecimalType

        return DecimalType(self.precision, self.scale)

    def hive_type(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def constraints(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max_digits": self.precision,
            "decimal_places": self.scale,
            "allow_inf_nan": False,
        }
        if self.ge is not None:
            out["ge"] = self.ge
        if self.le is not None:
            out["le"] = self.le
        return out


@dataclass(frozen=True)
class Timestamp(FieldType):
    """A UTC instant (ISO 8601 on the wire)."""

    def python_type(self) -> Any:
        return datetime

    def spark_type(self) -> Any:
        from pyspark.sql.types import TimestampType

        return TimestampType()

    def hive_type(self) -> str:
        return "timestamp"


@dataclass(frozen=True)
class EventField:
    """One field of an event's payload."""

    name: str
    type: FieldType
    description: str
    required: bool = True
    example: Any = None


@dataclass(frozen=True, eq=False)
class EventType:
    """One event type: the single declaration everything else is derived from."""

    name: str
    domain: Domain
    version: int
    description: str
    fields: tuple[EventField, ...]
    #: URLs of the original pipelines that produce this event (compatibility routes), each with
    #: the payload values the route implies (``/purchase_a_sword`` -> ``{"item": "sword"}``).
    legacy_routes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        """The wire name, ``<domain>.<name>``."""
        return f"{self.domain}.{self.name}"

    @property
    def topic_name(self) -> str:
        """Short topic name (the settings add the prefix): one topic per domain."""
        return self.domain

    @property
    def table(self) -> str:
        """Curated table name in the metastore."""
        return f"{self.domain}_{self.name}"

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]
