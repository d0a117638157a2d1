"""Folding station results into a tray's verdict (``line.md``, "Verdict and reasons")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plateline.contract import Reason, first_reason
from plateline.controller.model import PASS, CheckResult, Verdict


def fold(required: Sequence[str], results: Mapping[str, CheckResult]) -> Verdict | None:
    """The verdict the results allow so far, or None while it is still open.

    ``required`` lists the stations in flow order. A REJECT is decided as soon as a
    station failed and every station before it has a result (so that the reason is
    the first in precedence, whatever order the results came in); a PASS only when
    every required station passed. A skipped check never counts as passed.
    """
    failures: list[Reason] = []
    for station in required:
        result = results.get(station)
        if result is None:
            return None
        if result.skipped:
            # Only a rejected tray skips checks: an earlier failure decided already.
            failures.append(Reason.TRACKING_ERROR)
            break
        if not result.ok:
            failures.append(result.reason)
            break
    if not failures:
        return PASS
    return Verdict.reject(first_reason(failures))


def first_failure(results: Mapping[str, CheckResult],
                  required: Sequence[str] = ()) -> Reason | None:
    """The reason of the first failure already found (in precedence), or None.

    Used when a tray ends without a decided verdict (lost, restart): every failing
    result counts, whether the stations before it finished or not.
    """
    order = list(required) + [s for s in results if s not in required]
    failing = [results[s].reason for s in order
               if s in results and not results[s].ok and not results[s].skipped]
    if not failing:
        return None
    return first_reason(failing)
