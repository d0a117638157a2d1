"""INFEED against the LON/LOFF reader simulator on a pty: when a read is ended."""

from __future__ import annotations

import asyncio
from typing import cast

from plateline.contract import Reason
from plateline.controller.journal import Journal
from plateline.controller.stations.infeed import InfeedStation
from plateline.drivers.codereader import SerialCodeReader
from plateline.simulators.scanner import ScannerSim
from plateline.simulators.views import ScanView

from .station_rigs import item, window


async def test_an_unreadable_ticket_frees_the_reader_after_the_grace() -> None:
    """The reader would try for 2 s; the read is ended scan_grace_s after the tray's
    window closed, although no other tray needs the reader yet."""
    async with ScannerSim("S1", lambda: ScanView(None), read_window=2.0) as sim, \
            SerialCodeReader("S1", sim.port.endpoint, timeout=3.0) as reader:
        station = InfeedStation(reader, cast(Journal, None), {}, scan_grace_s=0.05,
                                scan_timeout_s=3.0)
        task = asyncio.create_task(station.run())
        try:
            async with asyncio.timeout(1.0):
                result = await station.start(item(), window(0.05))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert result.reason is Reason.NOREAD and result.data["problem"] == "S1: no read"
    assert sim.counters.loff == 1
