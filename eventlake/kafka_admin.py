"""Topics as code: the topics the catalog and settings name, created or verified, with a drift report.

:func:`topic_plan` and :func:`compare` are pure (the plan, and what to do about what the broker has);
:func:`ensure_topics` talks to the broker. Drift that can be fixed (a missing topic, too few
partitions, another retention) is fixed; drift that cannot (more partitions than planned, another
replication factor) is reported and fails the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventlake.catalog import EVENT_TYPES

if TYPE_CHECKING:
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as it should be."""

    name: str
    partitions: int
    replication: int
    retention_ms: int


@dataclass(frozen=True)
class ObservedTopic:
    """A topic as the broker describes it (retention None when the broker does not say)."""

    name: str
    partitions: int
    replication: int
    retention_ms: int | None = None


@dataclass(frozen=True)
class Change:
    """One difference between plan and broker, and what to do about it."""

    topic: str
    kind: str  # create | add_partitions | set_retention | drift | unverifiable
    detail: str

    @property
    def fixable(self) -> bool:
        return self.kind in ("create", "add_partitions", "set_retention")


@dataclass
class TopicReport:
    """What :func:`ensure_topics` found and did."""

    ok: list[str] = field(default_factory=list)
    done: list[Change] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)
    warnings: list[Change] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"OK      {name}" for name in self.ok]
        out += [f"FIXED   {c.topic}: {c.kind} ({c.detail})" for c in self.done]
        out += [f"WARNING {c.topic}: {c.detail}" for c in self.warnings]
        out += [f"DRIFT   {c.topic}: {c.detail}" for c in self.drift]
        return out

    def raise_for_drift(self) -> None:
        if self.drift:
            raise RuntimeError(
                "topic drift that cannot be fixed: " + "; ".join(f"{c.topic}: {c.detail}" for c in self.drift)
            )


def topic_plan(settings: EventlakeSettings) -> list[TopicSpec]:
    """Every topic: one per domain of the catalog, plus the dead-letter topic."""
    names = [*sorted({settings.topic(et.topic_name) for et in EVENT_TYPES}), settings.dead_letter_topic]
    return [
        TopicSpec(name, settings.kafka_partitions, settings.kafka_replication, settings.kafka_retention_ms)
        for name in names
    ]


def compare(plan: list[TopicSpec], observed: dict[str, ObservedTopic]) -> list[Change]:
    """The changes that bring the broker to the plan, and the drift no change can fix."""
    changes: list[Change] = []
    for spec in plan:
        seen = observed.get(spec.name)
        if seen is None:
            changes.append(Change(spec.name, "create", f"{spec.partitions} partitions x{spec.replication}"))
            continue
        if seen.partitions < spec.partitions:
            changes.append(Change(spec.name, "add_partitions", f"{seen.partitions} -> {spec.partitions} partitions"))
        elif seen.partitions > spec.partitions:
            changes.append(
                Change(spec.name, "drift", f"{seen.partitions} partitions, {spec.partitions} planned (cannot shrink)")
            )
        if seen.replication != spec.replication:
            changes.append(Change(spec.name, "drift", f"replication {seen.replication}, {spec.replication} planned"))
        if seen.retention_ms is None:
            changes.append(Change(spec.name, "unverifiable", "the broker does not report retention.ms"))
        elif seen.retention_ms != spec.retention_ms:
            changes.append(
                Change(spec.name, "set_retention", f"retention.ms {seen.retention_ms} -> {spec.retention_ms}")
            )
    return changes


def admin_client(settings: EventlakeSettings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 10_000})


def observe(admin: Any, names: list[str]) -> dict[str, ObservedTopic]:
    """Partitions, replication and (if the broker answers DescribeConfigs) retention of existing topics."""
    from confluent_kafka.admin import ConfigResource

    metadata = admin.list_topics(timeout=10)
    found: dict[str, ObservedTopic] = {}
    for name in names:
        meta = metadata.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            continue
        replication = min(len(p.replicas) for p in meta.partitions.values())
        retention = None
        try:
            resource = ConfigResource(ConfigResource.Type.TOPIC, name)
            configs = admin.describe_configs([resource])[resource].result(timeout=10)
            entry = configs.get("retention.ms")
            retention = int(entry.value) if entry is not None and entry.value is not None else None
        except Exception as error:
            log.info("retention of %s not readable: %s", name, error)
        found[name] = ObservedTopic(name, len(meta.partitions), replication, retention)
    return found


def ensure_topics(settings: EventlakeSettings, admin: Any | None = None) -> TopicReport:
    """Create or verify every planned topic (idempotent); returns the report, does not raise on drift."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic

    admin = admin or admin_client(settings)
    plan = topic_plan(settings)
    by_name = {spec.name: spec for spec in plan}
    changes = compare(plan, observe(admin, list(by_name)))
    report = TopicReport()
    for change in changes:
        spec = by_name[change.topic]
        try:
            if change.kind == "create":
                config = {"retention.ms": str(spec.retention_ms)}
                future = admin.create_topics([NewTopic(spec.name, spec.partitions, spec.replication, config=config)])
                future[spec.name].result(timeout=30)
            elif change.kind == "add_partitions":
                admin.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name].result(timeout=30)
            elif change.kind == "set_retention":
                resource = ConfigResource(
                    ConfigResource.Type.TOPIC,
                    spec.name,
                    incremental_configs=[
                        ConfigEntry("retention.ms", str(spec.retention_ms), incremental_operation=AlterConfigOpType.SET)
                    ],
                )
                admin.incremental_alter_configs([resource])[resource].result(timeout=30)
            elif change.kind == "unverifiable":
                report.warnings.append(change)
                continue
            else:
                report.drift.append(change)
                continue
        except KafkaException as error:
            if change.kind == "create" and error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created by a concurrent run meanwhile: fine
            report.drift.append(Change(change.topic, "drift", f"{change.detail}: could not fix ({error})"))
            continue
        report.done.append(change)
    # Verify what the fixes did rather than trusting the calls.
    after = observe(admin, list(by_name))
    for spec in plan:
        seen = after.get(spec.name)
        if seen is None:
            report.drift.append(Change(spec.name, "drift", "topic still missing after create"))
        elif seen.partitions < spec.partitions and not any(c.topic == spec.name for c in report.drift):
            report.drift.append(Change(spec.name, "drift", f"still {seen.partitions} partitions"))
        elif not any(c.topic == spec.name for c in report.drift + report.done):
            report.ok.append(spec.name)
    return report
