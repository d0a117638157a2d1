"""An operator's reject by hand (reason OPERATOR_REJECT, ``line.md``).

The operator rejects the open item on a tray. The first failure already found
stands; otherwise the reason is OPERATOR_REJECT. A PASS already written is
followed by the REJECT: the PLC diverts by the last verdict it took for the tray
since its ENTERED. A tray already past the gate cannot be rejected any more.
"""

from __future__ import annotations

import logging

from plateline.contract import Reason
from plateline.controller.journal import Journal, OperatorReject
from plateline.controller.model import Verdict
from plateline.controller.tracking import TrackedItem, Tracker
from plateline.controller.verdict import first_failure
from plateline.errors import PlatelineError
from plateline.records.models import utcnow

log = logging.getLogger(__name__)


class OperatorRefused(PlatelineError):
    """An operator's action that cannot be taken (the tray is gone, no such item ...)."""


def find_item(tracker: Tracker | None, tray: int | None, item_id: str | None) -> TrackedItem:
    """The open item on ``tray`` (or with public id ``item_id``); OperatorRefused if none."""
    if tray is None and item_id is None:
        raise OperatorRefused("name a tray or an item id")
    if tracker is None:
        raise OperatorRefused("tracking is not running")
    if item_id is not None:
        found = next((it for it in tracker.items.values() if it.public_id == item_id), None)
        if found is None:
            raise OperatorRefused(f"item {item_id} is not on the line (past the gate or "
                                  "unknown)")
        if tray is not None and found.tray != tray:
            raise OperatorRefused(f"item {item_id} is on tray {found.tray}, not tray {tray}")
        return found
    assert tray is not None
    item = tracker.by_tray.get(tray)
    if item is None:
        raise OperatorRefused(f"no item on tray {tray} (past the gate or not entered)")
    return item


async def reject_by_hand(tracker: Tracker | None, journal: Journal, *, tray: int | None,
                         item_id: str | None, user: str) -> str:
    """Reject the open item on ``tray`` / ``item_id``; returns its item id."""
    try:
        item = find_item(tracker, tray, item_id)
    except OperatorRefused as err:
        await journal.record_action(user, "reject REFUSED",
                                    {"tray": tray, "item_id": item_id, "why": str(err)})
        raise
    assert tracker is not None
    await item.stored.wait()
    if item.closed:
        why = f"{item.label()} is past the gate"
        await journal.record_action(user, "reject REFUSED",
                                    {"tray": item.tray, "item_id": item.public_id, "why": why})
        raise OperatorRefused(why)
    before = item.verdict
    if item.rejected:
        verdict = before
    else:
        reason = first_failure(item.results, tracker.settings.required_stations)
        verdict = Verdict.reject(reason or Reason.OPERATOR_REJECT)
    assert verdict is not None
    # Decided here, before any wait: a check finishing meanwhile no longer decides.
    item.verdict = verdict
    detail = {"tray": item.tray, "reason": verdict.reason.name,
              "before": before.word if before is not None else None}
    await journal.apply([OperatorReject(item.key, verdict, user, detail, utcnow())])
    log.warning("%s: rejected by hand by %s (%s)", item.label(), user, verdict.reason.name)
    if before is None or before.word != verdict.word:
        item.verdict_stored.set()
        tracker.send_verdict(item)
    assert item.public_id is not None
    return item.public_id
