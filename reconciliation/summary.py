"""What one reconcile found and did: counts by reason, a few examples, timings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

#: Scenes named per reason in the log.
MAX_EXAMPLES = 5


@dataclass
class ReconcileSummary:
    """What one reconcile found and did."""

    scope: str
    dry_run: bool = False
    scanned: int = 0
    matched: int = 0
    in_sync: int = 0
    #: Reason → scenes queued (in a dry run: that would have been queued).
    enqueued: Counter = field(default_factory=Counter)
    already_queued: int = 0
    #: Missing scenes left in the dead-letter queue (*changed*/*all*; *missing* requeues them).
    left_in_dlq: int = 0
    missing_in_plex: int = 0
    ambiguous: int = 0
    no_files: int = 0
    plex_items: int = 0
    scans_requested: int = 0
    #: False when *changed* read only scenes updated after ``updated_after``.
    full: bool = True
    updated_after: Optional[str] = None
    cursor: Optional[str] = None
    started_at: float = 0.0
    duration: float = 0.0
    #: Seconds spent listing Plex, waiting for Stash pages, and comparing.
    timings: dict[str, float] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def enqueued_total(self) -> int:
        """Scenes queued (or, dry, that would be)."""
        return sum(self.enqueued.values())

    def example(self, kind: str, text: str) -> None:
        """Keep ``text`` as an example of ``kind`` (a few per kind)."""
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < MAX_EXAMPLES:
            bucket.append(text)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (task output, state file)."""
        return {
            "scope": self.scope, "dry_run": self.dry_run, "scanned": self.scanned, "matched": self.matched,
            "in_sync": self.in_sync, "enqueued": dict(sorted(self.enqueued.items())),
            "enqueued_total": self.enqueued_total, "already_queued": self.already_queued,
            "left_in_dlq": self.left_in_dlq, "missing_in_plex": self.missing_in_plex,
            "ambiguous": self.ambiguous, "no_files": self.no_files, "plex_items": self.plex_items,
            "scans_requested": self.scans_requested, "full": self.full, "updated_after": self.updated_after,
            "cursor": self.cursor, "started_at": self.started_at, "duration": round(self.duration, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def lines(self) -> list[str]:
        """The summary as log lines: totals first, then a few examples of each finding."""
        what = {"changed": "changed scenes", "all": "all scenes", "missing": "scenes missing in Plex"}[self.scope]
        head = f"Reconcile ({what}{', dry run' if self.dry_run else ''})"
        if self.scope == "changed" and not self.full:
            head += f", updated after {self.updated_after}"
        out = [f"{head}: {self.scanned} scene(s) compared with {self.plex_items} Plex item(s) "
               f"in {self.duration:.1f}s"]
        verb = "would enqueue" if self.dry_run else "enqueued"
        by_reason = ", ".join(f"{k} {v}" for k, v in sorted(self.enqueued.items()))
        parts = [] if self.scope == "missing" else [f"{self.in_sync} in sync"]
        parts.append(f"{verb} {self.enqueued_total}" + (f" ({by_reason})" if by_reason else ""))
        parts += [f"{self.missing_in_plex} missing in Plex", f"{self.ambiguous} ambiguous"]
        if self.already_queued:
            parts.append(f"{self.already_queued} already queued")
        if self.left_in_dlq:
            parts.append(f"{self.left_in_dlq} missing and already in the dead-letter queue "
                         "(run 'Reconcile: missing in Plex' after Plex has scanned them)")
        if self.no_files:
            parts.append(f"{self.no_files} without files")
        if self.scans_requested:
            parts.append(f"{'would ask' if self.dry_run else 'asked'} Plex for {self.scans_requested} folder scan(s)")
        out.append("  " + "; ".join(parts))
        for kind, texts in sorted(self.examples.items()):
            for text in texts:
                out.append(f"  e.g. {kind}: {text}")
        if self.ambiguous:
            out.append("  Ambiguous scenes have no Plex file at their path and share a file name with several "
                       "Plex files: set 'Path mappings' so the full path matches (or tick "
                       "'Guess among same-named files').")
        return out
