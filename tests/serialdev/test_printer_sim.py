"""PrinterSim over a real pseudo-terminal: ~HS, printing, faults, misprints, S2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.printer_zpl import PrinterFault, ZplPrinter
from plateline.drivers.zpl import ParsedLabel, WaybillLabel, build_label_zpl, format_host_status
from plateline.errors import DeviceTimeoutError
from plateline.simulators.printer import PrinterSim, ZplStream
from plateline.simulators.scanner import ScannerSim
from plateline.simulators.views import ScanView


def label(n: int = 1) -> WaybillLabel:
    return WaybillLabel(order_id=f"ORD-{n:06d}", waybill_no=f"SF{n:010d}",
                        recipient_name="王小明", recipient_phone="13700001234",
                        recipient_address="浙江省杭州市西湖区")


class Output:
    """Collects what the printer prints."""

    def __init__(self) -> None:
        self.labels: list[ParsedLabel | None] = []
        self.more = asyncio.Event()

    def __call__(self, printed: ParsedLabel | None) -> None:
        self.labels.append(printed)
        self.more.set()

    async def wait(self, count: int, timeout: float = 2.0) -> list[ParsedLabel | None]:
        async with asyncio.timeout(timeout):
            while len(self.labels) < count:
                self.more.clear()
                await self.more.wait()
        return self.labels


async def test_prints_exactly_what_it_is_sent() -> None:
    out = Output()
    async with PrinterSim("P1", on_print=out) as sim, \
            ZplPrinter("P1", sim.port.path, timeout=0.5) as p1:
        assert (await p1.status()).ready
        await p1.print_label(label(7))
        [printed] = await out.wait(1)
    assert printed is not None
    assert printed.barcode == "SF0000000007"
    assert printed.texts == ("WAYBILL", "SF0000000007", "TO", "王小明", "137****1234",
                             "浙江省杭州市西湖区", "ORDER", "ORD-000007")
    assert "13700001234" not in "".join(printed.texts)
    assert sim.last_printed == printed and sim.counters.printed == 1


@pytest.mark.parametrize("fault", ["paper_out", "paused", "head_open", "ribbon_out"])
async def test_each_fault_shows_in_status_and_nothing_is_printed(fault: str) -> None:
    out = Output()
    async with PrinterSim("P1", on_print=out) as sim, \
            ZplPrinter("P1", sim.port.path, timeout=0.5) as p1:
        sim.set_fault(fault)  # type: ignore[arg-type]
        status = await p1.status()
        assert status.faults == (fault,)
        with pytest.raises(PrinterFault):
            await p1.print_label(label(1))
        # a format sent anyway is taken but not printed
        await p1.print_label(label(2), check_status=False)
        await p1.status()  # a round trip: the format has been taken by now
        await asyncio.sleep(0.05)
        assert out.labels == [] and sim.counters.not_printed == 1
        sim.set_fault(fault, active=False)  # type: ignore[arg-type]
        await p1.print_label(label(3))
        [printed] = await out.wait(1)
    assert printed is not None and printed.barcode == "SF0000000003"


async def test_several_faults_at_once() -> None:
    async with PrinterSim("P1") as sim, ZplPrinter("P1", sim.port.path, timeout=0.5) as p1:
        sim.set_fault("paper_out")
        sim.set_fault("head_open")
        assert (await p1.status()).faults == ("paper_out", "head_open")
        sim.clear_faults()
        assert (await p1.status()).ready
        with pytest.raises(ValueError):
            sim.set_fault("jammed")  # type: ignore[arg-type]


async def test_silent_printer_neither_answers_nor_prints() -> None:
    out = Output()
    async with PrinterSim("P1", on_print=out) as sim, \
            ZplPrinter("P1", sim.port.path, timeout=0.2) as p1:
        sim.set_fault("silent")
        with pytest.raises(DeviceTimeoutError):
            await p1.status()
        await p1.print_label(label(1), check_status=False)
        await asyncio.sleep(0.1)
        assert out.labels == []
        sim.set_fault("silent", active=False)
        assert (await p1.status()).ready
    assert sim.counters.status_requests == 2 and sim.counters.status_answers == 1


async def test_misprint_smudges_the_next_barcode_only() -> None:
    out = Output()
    async with PrinterSim("P1", on_print=out) as sim, \
            ZplPrinter("P1", sim.port.path, timeout=0.5) as p1:
        sim.set_misprint(True)
        assert sim.misprinting
        await p1.print_label(label(1))
        await p1.print_label(label(2))
        first, second = await out.wait(2)
        assert first is not None and first.barcode is None
        assert "SF0000000001" in first.texts  # the text is still there
        assert second is not None and second.barcode == "SF0000000002"
        assert not sim.misprinting
        sim.set_misprint(True, labels=None)
        await p1.print_label(label(3))
        await p1.print_label(label(4))
        third, fourth = (await out.wait(4))[2:]
        assert third is not None and fourth is not None
        assert third.barcode is None and fourth.barcode is None
        sim.set_misprint(False)
        await p1.print_label(label(5))
        fifth = (await out.wait(5))[4]
        assert fifth is not None and fifth.barcode == "SF0000000005"
    assert sim.counters.misprinted == 3


async def test_split_merged_and_interleaved_formats(raw_client) -> None:
    out = Output()
    one, two = build_label_zpl(label(1)).encode(), build_label_zpl(label(2)).encode()
    async with PrinterSim("P1", on_print=out) as sim:
        client = raw_client(sim.port.path)
        for i in range(0, len(one), 5):  # one format in many small writes
            client.write(one[i:i + 5])
        client.write(b"noise between formats\r\n" + two + b"~HS" + one)  # several at once
        client.write(two[:50] + b"~HS" + two[50:])  # a status request inside a format
        printed = await out.wait(4)
        assert [p.barcode if p else None for p in printed] == [
            "SF0000000001", "SF0000000002", "SF0000000001", "SF0000000002"]
        for _ in range(2):
            answer = await client.read_until(b"\x021234,0\x03\r\n")
            assert answer.startswith(b"\x02030,0,0,1218,") and answer.count(b"\r\n") == 3
    assert sim.counters.formats == 4 and sim.counters.status_answers == 2


async def test_unreadable_format_prints_nothing_readable(raw_client) -> None:
    out = Output()
    async with PrinterSim("P1", on_print=out) as sim:
        client = raw_client(sim.port.path)
        client.write(b"^XA^FO10,10^FDnever closed^XZ")
        assert await out.wait(1) == [None]
    assert sim.counters.unreadable == 1 and sim.last_printed is None


async def test_status_counts_waiting_formats(raw_client) -> None:
    async with PrinterSim("P1", print_delay=0.3) as sim:
        client = raw_client(sim.port.path)
        client.write(build_label_zpl(label(1)).encode() * 2)
        await asyncio.sleep(0.05)
        client.write(b"~HS")
        answer = await client.read_until(b"\x021234,0\x03\r\n")
    assert answer == format_host_status(formats_waiting=1)


async def test_label_verified_by_the_scanner() -> None:
    """S2 reads the printed label: the waybill, or ERROR for a smudged barcode."""
    printed: list[ParsedLabel | None] = []

    def at_s2() -> ScanView:
        last = printed[-1] if printed else None
        return ScanView(data=last.barcode if last else None)

    async with PrinterSim("P1", on_print=printed.append) as p_sim, \
            ScannerSim("S2", at_s2, decode_delay=(0.01, 0.02)) as s_sim, \
            ZplPrinter("P1", p_sim.port.path, timeout=0.5) as p1, \
            SerialCodeReader("S2", s_sim.port.path, timeout=0.5) as s2:
        await p1.print_label(label(11))
        await p1.status()  # the format has arrived before this answer
        assert await s2.scan() == "SF0000000011"
        p_sim.set_misprint(True)
        await p1.print_label(label(12))
        await p1.status()
        assert await s2.scan() is None  # the reader answered ERROR


async def test_link_and_close_twice(tmp_path: Path) -> None:
    link = tmp_path / "P1"
    sim = PrinterSim("P1", link=link)
    async with sim, ZplPrinter("P1", str(link), timeout=0.5) as p1:
        assert (await p1.status()).ready
    await sim.aclose()
    assert not link.exists()


# -- the stream splitter, pure --------------------------------------------------------

items = st.lists(st.sampled_from([b"~HS", b"^XA^FDa^FS^XZ", b"^XA^BCN^FDSF0000000001^FS^XZ",
                                  b"junk", b"\r\n"]), max_size=12)


@given(items, st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_stream_cut_the_same_however_split(parts: list[bytes], cuts: list[int]) -> None:
    whole = b"".join(parts)
    expected = [p for p in parts if p.startswith((b"~HS", b"^XA"))]
    stream, got, pos, i = ZplStream(), [], 0, 0
    while pos < len(whole):
        step = cuts[i % len(cuts)]
        got += stream.feed(whole[pos:pos + step])
        pos, i = pos + step, i + 1
    assert got == expected


def test_stream_drops_overlong_formats() -> None:
    stream = ZplStream(max_format=100)
    assert stream.feed(b"^XA" + b"x" * 200) == []
    assert stream.overflows == 1
    assert stream.feed(b"^XZ^XA^FDok^FS^XZ") == [b"^XA^FDok^FS^XZ"]
