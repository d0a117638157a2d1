"""Check-weigher ``W1`` over serial: the MT-SICS level 0 subset of ``serial-devices.md``.

Commands ``S`` (stable weight), ``SI`` (immediate weight), ``Z`` (zero) and ``@``
(reset); every line ends in ``\\r\\n``. Answers are parsed strictly by
:func:`parse_weight_answer`, :func:`parse_zero_answer` and :func:`parse_reset_answer`
(pure functions); a well-formed error answer raises :class:`ScaleFault`, anything
else :class:`~plateline.errors.ProtocolError`.

Units: ``g`` is the unit of the line; ``kg`` and ``mg`` are converted to grams
exactly (a scale set to a metric unit still weighs right); any other unit
(``lb``, ``oz``, ``ct`` ...) is refused as a ScaleFault of kind ``"unit"``: the
scale is misconfigured and its reading is not trusted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from plateline.drivers.serialdevice import SerialDevice
from plateline.errors import DeviceFault, DeviceTimeoutError, ProtocolError

_T = TypeVar("_T")

TERMINATOR = b"\r\n"
MAX_ANSWER = 64
WEIGHT_FIELD = 10

ScaleFaultKind = Literal["busy", "overload", "underload", "syntax", "transmission",
                         "logical", "unit"]

#: grams per unit for the units converted; others are refused.
UNIT_GRAMS: dict[str, float] = {"g": 1.0, "kg": 1000.0, "mg": 0.001}

_WEIGHT = re.compile(r"S ([SD]) (.{10}) ([A-Za-z]{1,4})")
_NUMBER = re.compile(r" *(-?\d{1,9}(?:\.\d{1,6})?)")
_RESET = re.compile(r'I4 A "([\x20\x21\x23-\x7e]{1,32})"')
_ERRORS: dict[str, tuple[ScaleFaultKind, str]] = {
    "ES": ("syntax", "syntax error: command not understood"),
    "ET": ("transmission", "transmission error"),
    "EL": ("logical", "logical error: command cannot be executed"),
}


@dataclass(frozen=True)
class Weight:
    """A weight in grams; ``stable`` is False for a dynamic (``S D``) reading."""

    value_g: float
    stable: bool


class ScaleFault(DeviceFault):
    """The scale answered properly but could not weigh; ``kind`` says why."""

    def __init__(self, message: str, *, kind: ScaleFaultKind, device: str | None = None,
                 detail: str | None = None) -> None:
        self.kind: ScaleFaultKind = kind
        super().__init__(message, device=device, detail=detail)


class ScaleBusy(ScaleFault):
    """``S I`` / ``Z I``: not possible now (busy, or never stable within the scale's timeout)."""

    def __init__(self, message: str, *, device: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message, kind="busy", device=device, detail=detail)


# -- pure protocol functions -------------------------------------------------------


def format_weight(value: float, *, stable: bool = True, unit: str = "g",
                  decimals: int = 2) -> str:
    """The answer line (without ``\\r\\n``) for a weight: ``S S     123.45 g``."""
    number = f"{value:.{decimals}f}"
    if number.startswith("-") and float(number) == 0:
        number = number[1:]
    if len(number) > WEIGHT_FIELD:
        raise ValueError(f"{number} does not fit the {WEIGHT_FIELD}-character weight field")
    return f"S {'S' if stable else 'D'} {number:>{WEIGHT_FIELD}} {unit}"


def _decode(line: bytes | str, device: str | None) -> str:
    if isinstance(line, str):
        text = line
    else:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as err:
            raise ProtocolError("answer is not ASCII", device=device,
                                detail=repr(line[:32])) from err
    if not text.isascii() or not text.isprintable():
        raise ProtocolError("non-printable characters in answer", device=device,
                            detail=repr(text[:32]))
    return text


def _error_answer(text: str, device: str | None) -> None:
    """Raise the ScaleFault of an ``ES`` / ``ET`` / ``EL`` answer; nothing otherwise."""
    found = _ERRORS.get(text)
    if found is not None:
        kind, message = found
        raise ScaleFault(message, kind=kind, device=device, detail=text)


def parse_weight_answer(line: bytes | str, *, command: Literal["S", "SI"] = "SI",
                        device: str | None = None) -> Weight:
    """Parse the answer to ``S`` or ``SI`` (without ``\\r\\n``) into a Weight in grams.

    ``S D`` is accepted only for ``SI``. ScaleBusy for ``S I``; ScaleFault for
    ``S +`` / ``S -`` (overload / underload), ``ES`` / ``ET`` / ``EL`` and a unit
    other than g, kg, mg; ProtocolError for anything else.
    """
    text = _decode(line, device)
    _error_answer(text, device)
    if text == "S I":
        raise ScaleBusy("weighing not possible now (busy or not stable)", device=device,
                        detail=text)
    if text == "S +":
        raise ScaleFault("overload: weight above the scale's range", kind="overload",
                         device=device, detail=text)
    if text == "S -":
        raise ScaleFault("underload: weight below the scale's range", kind="underload",
                         device=device, detail=text)
    match = _WEIGHT.fullmatch(text)
    number = _NUMBER.fullmatch(match.group(2)) if match else None
    if match is None or number is None:
        raise ProtocolError(f"not a weight answer to {command}", device=device,
                            detail=repr(text[:32]))
    status, unit = match.group(1), match.group(3)
    if status == "D" and command == "S":
        raise ProtocolError("dynamic weight in answer to S", device=device, detail=text)
    grams = UNIT_GRAMS.get(unit)
    if grams is None:
        raise ScaleFault(f"unit {unit!r} refused; set the scale to g", kind="unit",
                         device=device, detail=text)
    value = float(number.group(1)) * grams
    return Weight(value_g=round(value, 6) + 0.0, stable=status == "S")


def parse_zero_answer(line: bytes | str, *, device: str | None = None) -> None:
    """Accept ``Z A``; ScaleBusy for ``Z I``, ScaleFault for errors, else ProtocolError."""
    text = _decode(line, device)
    _error_answer(text, device)
    if text == "Z A":
        return
    if text == "Z I":
        raise ScaleBusy("zero not possible now", device=device, detail=text)
    raise ProtocolError("not an answer to Z", device=device, detail=repr(text[:32]))


def parse_reset_answer(line: bytes | str, *, device: str | None = None) -> str:
    """The serial number of an ``I4 A "..."`` answer; ScaleFault / ProtocolError otherwise."""
    text = _decode(line, device)
    _error_answer(text, device)
    match = _RESET.fullmatch(text)
    if match is None:
        raise ProtocolError("not an answer to @", device=device, detail=repr(text[:32]))
    return match.group(1)


# -- driver ----------------------------------------------------------------------------


class MtSicsScale(SerialDevice):
    """An MT-SICS scale on a serial port; an async context manager.

    One command at a time (a lock); each waits for its answer within ``timeout``
    (per call overridable) and raises DeviceTimeoutError when none comes. The
    timeout of :meth:`weigh_stable` must exceed the scale's own stability timeout.
    After a timeout or garbage, the next command first waits ``drain_timeout`` and
    drops whatever came late, so that a late answer is never taken for the next one.
    """

    # -- commands ----------------------------------------------------------------

    async def weigh_immediate(self, timeout: float | None = None) -> Weight:
        """``SI``: the weight now, stable or dynamic (see ``Weight.stable``)."""
        return await self._command(b"SI", timeout, lambda answer: parse_weight_answer(
            answer, command="SI", device=self.name))

    async def weigh_stable(self, timeout: float | None = None) -> Weight:
        """``S``: the next stable weight; ScaleBusy when the scale gives up (``S I``)."""
        return await self._command(b"S", timeout, lambda answer: parse_weight_answer(
            answer, command="S", device=self.name))

    async def zero(self, timeout: float | None = None) -> None:
        """``Z``: set zero; ScaleBusy when not possible now (``Z I``)."""
        await self._command(b"Z", timeout,
                            lambda answer: parse_zero_answer(answer, device=self.name))

    async def reset(self, timeout: float | None = None) -> str:
        """``@``: reset the scale (it drops pending commands); returns its serial number."""
        return await self._command(b"@", timeout,
                                   lambda answer: parse_reset_answer(answer, device=self.name))

    async def _command(self, command: bytes, timeout: float | None,
                       parse: Callable[[bytes], _T]) -> _T:
        limit = self._limit(timeout)
        async with self._lock:
            await self._drain()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit
            await self._line.write(command + TERMINATOR, timeout=limit)
            try:
                answer = await self._line.readline(
                    TERMINATOR, max(0.0, deadline - loop.time()), max_size=MAX_ANSWER)
                return parse(answer)
            except DeviceTimeoutError as err:
                self._stale = True
                raise DeviceTimeoutError(f"no answer to {command.decode()} within {limit:g} s",
                                         device=self.name, detail=err.detail) from err
            except (ProtocolError, asyncio.CancelledError):
                self._stale = True  # an answer may still come: drop it before the next command
                raise
