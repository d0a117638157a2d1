"""The PackML state model (ISA-TR88.00.02) as data: which command is valid where.

Shared by the controller's line state machine and the simulated PLCs, since
both must agree on it exactly as the contract says.
"""

from __future__ import annotations

from plateline.contract import PackMLCommand as C
from plateline.contract import PackMLState as S

#: Acting states and the state each one ends in when its work is done (state complete).
ACTING_DONE: dict[S, S] = {
    S.CLEARING: S.STOPPED,
    S.STARTING: S.EXECUTE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
    S.SUSPENDING: S.SUSPENDED,
    S.UNSUSPENDING: S.EXECUTE,
    S.RESETTING: S.IDLE,
    S.COMPLETING: S.COMPLETE,
}

WAIT_STATES: frozenset[S] = frozenset(
    {S.STOPPED, S.IDLE, S.SUSPENDED, S.EXECUTE, S.ABORTED, S.HELD, S.COMPLETE}
)

_NOT_STOPPABLE = frozenset({S.STOPPED, S.STOPPING, S.CLEARING, S.ABORTING, S.ABORTED})
_NOT_ABORTABLE = frozenset({S.ABORTING, S.ABORTED})

_FROM: dict[C, tuple[frozenset[S], S]] = {
    C.RESET: (frozenset({S.STOPPED, S.COMPLETE}), S.RESETTING),
    C.START: (frozenset({S.IDLE}), S.STARTING),
    C.HOLD: (frozenset({S.EXECUTE, S.SUSPENDED}), S.HOLDING),
    C.UNHOLD: (frozenset({S.HELD}), S.UNHOLDING),
    C.SUSPEND: (frozenset({S.EXECUTE}), S.SUSPENDING),
    C.UNSUSPEND: (frozenset({S.SUSPENDED}), S.UNSUSPENDING),
    C.CLEAR: (frozenset({S.ABORTED}), S.CLEARING),
}


def transition(state: S, command: C) -> S | None:
    """The acting state that ``command`` starts from ``state``, or None if refused."""
    if command is C.ABORT:
        return None if state in _NOT_ABORTABLE else S.ABORTING
    if command is C.STOP:
        valid = state not in _NOT_STOPPABLE and state is not S.UNDEFINED
        return S.STOPPING if valid else None
    rule = _FROM.get(command)
    if rule is None:
        return None
    sources, target = rule
    return target if state in sources else None


def is_acting(state: S) -> bool:
    """True for the transient states that end by themselves (state complete)."""
    return state in ACTING_DONE
