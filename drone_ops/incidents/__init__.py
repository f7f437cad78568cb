"""Incidents: the book (lifecycle, queries), evidence, export bundles and the rules.

`Incidents(store)` raises, marks, acknowledges, resolves, dismisses, notes and
queries incidents; `EvidenceLocker(store)` stores hashed evidence files;
`export_bundle` writes a bundle an investigator can verify with `sha256sum -c`;
`RuleEngine`/`RuleRunner` raise incidents automatically from telemetry and
sortie events. Every change is an audit entry, committed with the change.
"""

from drone_ops.incidents.book import Incidents
from drone_ops.incidents.evidence import EvidenceLocker, sha256_file
from drone_ops.incidents.export import export_bundle
from drone_ops.incidents.model import (
    EvidenceKind,
    EvidenceRecord,
    Incident,
    IncidentDraft,
    IncidentError,
    IncidentNote,
    IncidentStatus,
    InvalidTransitionError,
    Severity,
)
from drone_ops.incidents.rules import (
    BatteryRule,
    FailsafeRule,
    GeofenceRule,
    LinkLostRule,
    Rule,
    RuleEngine,
    RuleRunner,
    SortieAbortedRule,
    SortieEvent,
    SortieEventKind,
    default_rules,
)

__all__ = [
    "BatteryRule",
    "EvidenceKind",
    "EvidenceLocker",
    "EvidenceRecord",
    "FailsafeRule",
    "GeofenceRule",
    "Incident",
    "IncidentDraft",
    "IncidentError",
    "IncidentNote",
    "IncidentStatus",
    "Incidents",
    "InvalidTransitionError",
    "LinkLostRule",
    "Rule",
    "RuleEngine",
    "RuleRunner",
    "Severity",
    "SortieAbortedRule",
    "SortieEvent",
    "SortieEventKind",
    "default_rules",
    "export_bundle",
    "sha256_file",
]
