"""One exception root for plateline, split by what went wrong.

Drivers translate library errors into these at their edge (``raise ... from err``)
and carry which device and which address or command was involved.
"""

from __future__ import annotations


class PlatelineError(Exception):
    """Root of every error plateline raises on purpose."""


class ConfigError(PlatelineError):
    """The configuration, a tag/node map or a recipe is invalid."""


class DeviceError(PlatelineError):
    """Something went wrong talking to a device."""

    def __init__(self, message: str, *, device: str | None = None, detail: str | None = None):
        self.device = device
        self.detail = detail
        prefix = f"{device}: " if device else ""
        super().__init__(prefix + message + (f" ({detail})" if detail else ""))


class DeviceConnectionError(DeviceError):
    """The link to the device is down or could not be opened (broken)."""


class DeviceClosedError(DeviceError):
    """The driver was closed by us and cannot be used any more."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """The device did not answer within its timeout."""


class ProtocolError(DeviceError):
    """The device answered something the protocol does not allow (garbage, bad framing)."""


class DeviceFault(DeviceError):
    """The device answered properly but reports a fault (exception code, error status)."""

    def __init__(self, message: str, *, device: str | None = None, code: int | None = None,
                 detail: str | None = None):
        self.code = code
        super().__init__(message, device=device, detail=detail)


class OrderImportError(PlatelineError):
    """An order file was refused; ``problems`` lists every bad row."""

    def __init__(self, message: str, problems: list[RowProblem] | None = None):
        self.problems = problems or []
        lines = [message] + [str(p) for p in self.problems]
        super().__init__("\n".join(lines))


class RowProblem:
    """One bad field of one row of an order file."""

    __slots__ = ("row", "field", "reason")

    def __init__(self, row: int, field: str, reason: str):
        self.row = row
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"

    def __repr__(self) -> str:
        return f"RowProblem({self.row!r}, {self.field!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowProblem) and (self.row, self.field, self.reason) == (
            other.row, other.field, other.reason)

    def __hash__(self) -> int:
        return hash((self.row, self.field, self.reason))


class VisionError(PlatelineError):
    """A frame could not be decoded or processed (a VISION_FAULT)."""
