"""Conditions that stop the tracking core; it is rebuilt from the database afterwards."""

from __future__ import annotations

from plateline.errors import PlatelineError


class CoreRestart(PlatelineError):
    """The tracking core must stop and be rebuilt from the database and the PLC."""


class PlcRestarted(CoreRestart):
    """BOOT_COUNT changed: the PLC's rings began again and its trays are lost."""


class RingInconsistent(CoreRestart):
    """A ring's counters do not agree with the controller's records."""
