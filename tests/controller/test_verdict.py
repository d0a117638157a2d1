"""Folding check results into one verdict: precedence, PASS only when all passed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateline.contract import REASON_PRECEDENCE, Reason, VerdictCode
from plateline.controller.model import PASS, CheckResult, Verdict
from plateline.controller.tracking import Window
from plateline.controller.verdict import first_failure, fold

REQUIRED = ("INFEED", "VISION")
INFEED_REASONS = REASON_PRECEDENCE[:4]
VISION_REASONS = REASON_PRECEDENCE[4:8]


def ok() -> CheckResult:
    return CheckResult.passed()


def bad(reason: Reason) -> CheckResult:
    return CheckResult.failed(reason)


def test_pass_only_when_every_required_station_passed() -> None:
    assert fold(REQUIRED, {}) is None
    assert fold(REQUIRED, {"INFEED": ok()}) is None
    assert fold(REQUIRED, {"VISION": ok()}) is None
    assert fold(REQUIRED, {"INFEED": ok(), "VISION": ok()}) == PASS


def test_reject_as_soon_as_the_first_station_fails() -> None:
    assert fold(REQUIRED, {"INFEED": bad(Reason.NOREAD)}) == Verdict.reject(Reason.NOREAD)


def test_a_later_failure_waits_for_the_earlier_stations() -> None:
    # VISION failed first in time, INFEED still open: the verdict must wait, since
    # an INFEED failure would take precedence.
    assert fold(REQUIRED, {"VISION": bad(Reason.VISION_FAULT)}) is None
    both = {"VISION": bad(Reason.VISION_FAULT), "INFEED": bad(Reason.DUPLICATE_ORDER)}
    assert fold(REQUIRED, both) == Verdict.reject(Reason.DUPLICATE_ORDER)
    later = {"VISION": bad(Reason.PLATE_TYPE), "INFEED": ok()}
    assert fold(REQUIRED, later) == Verdict.reject(Reason.PLATE_TYPE)


def test_a_skipped_check_is_never_a_pass() -> None:
    results = {"INFEED": ok(), "VISION": CheckResult.skip(None)}
    verdict = fold(REQUIRED, results)
    assert verdict is not None and verdict.code is VerdictCode.REJECT


def test_more_required_stations_join_by_configuration() -> None:
    required = ("INFEED", "VISION", "WEIGH")
    assert fold(required, {"INFEED": ok(), "VISION": ok()}) is None
    assert fold(required, {"INFEED": ok(), "VISION": ok(), "WEIGH": ok()}) == PASS


@given(st.sampled_from(INFEED_REASONS), st.sampled_from(VISION_REASONS))
def test_infeed_reasons_win_over_vision_reasons(infeed: Reason, vision: Reason) -> None:
    results = {"INFEED": bad(infeed), "VISION": bad(vision)}
    assert fold(REQUIRED, results) == Verdict.reject(infeed)
    assert first_failure(results, REQUIRED) is infeed


def test_first_failure_without_failures_is_none() -> None:
    assert first_failure({"INFEED": ok()}, REQUIRED) is None
    assert first_failure({}, REQUIRED) is None


def test_check_result_and_verdict_invariants() -> None:
    with pytest.raises(ValueError):
        CheckResult(True, Reason.NOREAD)
    with pytest.raises(ValueError):
        CheckResult(False, Reason.NONE)
    with pytest.raises(ValueError):
        Verdict(VerdictCode.PASS, Reason.NOREAD)
    with pytest.raises(ValueError):
        Verdict(VerdictCode.REJECT, Reason.NONE)
    assert CheckResult.skip(Reason.NOREAD).reason_name == "SKIPPED"


def test_window_rule() -> None:
    # 150 mm at 300 mm/s: 0.5 s after the last poll that did not see the event
    assert Window(10.0, 300, 150).closes == pytest.approx(10.5)
    # x20: 25 ms
    assert Window(10.0, 6000, 150).closes == pytest.approx(10.025)
    # unknown base (first poll after a start) or unknown / zero speed: closed at once
    assert Window(None, 300, 150).closes == float("-inf")
    assert Window(10.0, None, 150).closes == float("-inf")
    assert Window(10.0, 0, 150).closes == float("-inf")
