"""ZplPrinter against a scripted printer on a real pty (and pyserial's loop://)."""

from __future__ import annotations

import pytest

from plateline.drivers.printer_zpl import PrinterFault, ZplPrinter
from plateline.drivers.registry import driver_class
from plateline.drivers.zpl import WaybillLabel, build_label_zpl, format_host_status
from plateline.errors import DeviceTimeoutError, ProtocolError

from .helpers import ScriptedDevice

LABEL = WaybillLabel(order_id="ORD-000042", waybill_no="SF1234567890", recipient_name="李四",
                     recipient_phone="13912345678", recipient_address="北京市朝阳区")


@pytest.fixture
async def printer_dev():
    dev = ScriptedDevice(terminator=b"~HS")
    yield dev
    dev.close()


async def test_status_ready(printer_dev: ScriptedDevice) -> None:
    printer_dev.reply(format_host_status())
    async with ZplPrinter("P1", printer_dev.path, timeout=0.5) as p1:
        status = await p1.status()
    assert status.ready and status.faults == ()
    assert bytes(printer_dev.received) == b"~HS"


@pytest.mark.parametrize("fault", ["paper_out", "paused", "head_open", "ribbon_out"])
async def test_each_fault_stops_printing(printer_dev: ScriptedDevice, fault: str) -> None:
    printer_dev.reply(format_host_status(**{fault: True}))
    printer_dev.reply(format_host_status(**{fault: True}))
    async with ZplPrinter("P1", printer_dev.path, timeout=0.5) as p1:
        status = await p1.status()
        assert getattr(status, fault) and status.faults == (fault,) and not status.ready
        with pytest.raises(PrinterFault, match=fault) as err:
            await p1.print_label(LABEL)
        assert err.value.status.faults == (fault,) and err.value.device == "P1"
    assert bytes(printer_dev.received) == b"~HS~HS"  # nothing but the status requests


async def test_buffer_full_alone_is_not_a_fault(printer_dev: ScriptedDevice) -> None:
    printer_dev.reply(format_host_status(buffer_full=True))
    async with ZplPrinter("P1", printer_dev.path, timeout=0.5) as p1:
        status = await p1.status()
    assert status.buffer_full and status.ready


async def test_print_label_checks_status_then_sends_the_format(
        printer_dev: ScriptedDevice) -> None:
    printer_dev.reply(format_host_status())
    async with ZplPrinter("P1", printer_dev.path, timeout=0.5) as p1:
        await p1.print_label(LABEL)
        await p1.print_label(LABEL, check_status=False)
        zpl = build_label_zpl(LABEL).encode()
        expected = b"~HS" + zpl + zpl
        assert await printer_dev.wait_received(len(expected)) == expected


async def test_silent_printer_is_a_timeout(printer_dev: ScriptedDevice) -> None:
    printer_dev.reply()
    printer_dev.reply()
    async with ZplPrinter("P1", printer_dev.path, timeout=0.2) as p1:
        with pytest.raises(DeviceTimeoutError, match="0 of 3 lines") as err:
            await p1.status()
        assert isinstance(err.value, TimeoutError)
        with pytest.raises(DeviceTimeoutError):
            await p1.print_label(LABEL)
    assert b"^XA" not in printer_dev.received


async def test_partial_answer_is_a_timeout(printer_dev: ScriptedDevice) -> None:
    printer_dev.reply(format_host_status()[:40])
    async with ZplPrinter("P1", printer_dev.path, timeout=0.2) as p1:
        with pytest.raises(DeviceTimeoutError, match="1 of 3 lines"):
            await p1.status()


async def test_answer_split_across_writes(printer_dev: ScriptedDevice) -> None:
    raw = format_host_status(paused=True)
    printer_dev.reply(*(raw[i:i + 7] for i in range(0, len(raw), 7)), pause=0.005)
    async with ZplPrinter("P1", printer_dev.path, timeout=1.0) as p1:
        assert (await p1.status()).faults == ("paused",)


@pytest.mark.parametrize("answer", [
    b"garbage\r\ngarbage\r\ngarbage\r\n",
    format_host_status().replace(b"\x03", b""),
    format_host_status().replace(b",0,0,1218", b",2,0,1218"),
    b"\x02" + b"0" * 200 + b"\x03\r\n",
])
async def test_malformed_answer_is_a_protocol_error(printer_dev: ScriptedDevice,
                                                    answer: bytes) -> None:
    printer_dev.reply(answer)
    printer_dev.reply(format_host_status())
    async with ZplPrinter("P1", printer_dev.path, timeout=0.3) as p1:
        with pytest.raises((ProtocolError, DeviceTimeoutError)) as err:
            await p1.status()
        if answer.count(b"\r\n") >= 3 or len(answer) > 128:
            assert isinstance(err.value, ProtocolError)
        await printer_dev.settle()
        assert (await p1.status()).ready  # usable again


async def test_echoing_line_is_a_timeout() -> None:
    async with ZplPrinter("P1", "loop://", timeout=0.2) as p1:
        with pytest.raises(DeviceTimeoutError):
            await p1.status()


async def test_non_ascii_format_is_refused(printer_dev: ScriptedDevice) -> None:
    async with ZplPrinter("P1", printer_dev.path, timeout=0.2) as p1:
        with pytest.raises(UnicodeEncodeError):
            await p1.send_format("^XA^FD张^FS^XZ", check_status=False)
    assert printer_dev.received == b""


def test_registered_as_printer_driver() -> None:
    assert driver_class("printer", "zpl") is ZplPrinter
