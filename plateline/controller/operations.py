"""What an operator does to bring the line to Execute: Reset, start the packer, Start.

Shared by every front end that starts the line (``plateline line start``, the HMI,
the demo's scripted operator) so that all of them do it the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plateline.contract import CmdResult, PackMLCommand, PackMLState
from plateline.errors import DeviceError

if TYPE_CHECKING:
    from plateline.controller.line import LineController


@dataclass
class StartResult:
    """Whether the line got to Execute, and if not, why not."""

    ok: bool
    detail: str


#: The command that moves the packer on towards Execute from each resting state.
_PACKER_TOWARDS_EXECUTE = {
    PackMLState.STOPPED: PackMLCommand.RESET, PackMLState.COMPLETE: PackMLCommand.RESET,
    PackMLState.IDLE: PackMLCommand.START, PackMLState.HELD: PackMLCommand.UNHOLD,
    PackMLState.SUSPENDED: PackMLCommand.UNSUSPEND, PackMLState.ABORTED: PackMLCommand.CLEAR,
}


async def start_packer(controller: LineController, *, user: str, timeout: float = 10.0) -> None:
    """Bring the packer to Execute, as an operator would (nothing without a packer).

    DeviceError when the packer refuses or cannot be reached, TimeoutError when it
    does not get there within ``timeout``."""
    packer = controller.packer
    if packer is None:
        return
    async with asyncio.timeout(timeout):
        while True:
            state = PackMLState(int((await packer.read("STATE"))["STATE"]))
            if state is PackMLState.EXECUTE:
                return
            cmd = _PACKER_TOWARDS_EXECUTE.get(state)
            if cmd is None:  # an acting state: it ends by itself
                await asyncio.sleep(0.05)
                continue
            await controller.packer_command(cmd, user)


async def reset_and_start(controller: LineController, *, user: str,
                          timeout: float = 20.0) -> StartResult:
    """Bring the line (and its packer) from Stopped/Complete/Idle to Execute, as an
    operator would."""
    async with asyncio.timeout(timeout):
        if controller.state in (PackMLState.STOPPED, PackMLState.COMPLETE):
            res = await controller.command(PackMLCommand.RESET, user)
            if res is not CmdResult.TAKEN:
                return StartResult(False, f"Reset refused ({res.name})")
            await controller.wait_for_state(PackMLState.IDLE)
        if controller.state is PackMLState.IDLE:
            try:
                await start_packer(controller, user=user)
            except (DeviceError, TimeoutError) as err:
                return StartResult(False, f"packer not started ({err or 'timeout'})")
            res = await controller.command(PackMLCommand.START, user)
            if res is not CmdResult.TAKEN:
                return StartResult(False, f"Start refused ({res.name})")
            await controller.wait_for_state(PackMLState.EXECUTE)
    return StartResult(True, "running")
