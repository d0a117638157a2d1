"""Device facades that reach their device through a LinkSupervisor.

A station holds one of these for the whole run; the supervisor behind it
reopens the port after the device or its cable went away.
"""

from __future__ import annotations

import asyncio

from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.supervisor import LinkSupervisor


class SupervisedCodeReader:
    """A code reader whose serial port is kept open by a supervisor.

    ``scan`` raises DeviceConnectionError at once while the port is down.
    """

    def __init__(self, link: LinkSupervisor[SerialCodeReader]) -> None:
        self.link = link
        self.name = link.name

    async def scan(self, timeout: float | None = None, *,
                   stop: asyncio.Event | None = None) -> str | None:
        return await self.link.use(lambda reader: reader.scan(timeout, stop=stop))
