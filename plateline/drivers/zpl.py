"""ZPL II pieces for the label printer ``P1`` (pure functions, no I/O).

- :func:`build_label_zpl` renders a :class:`WaybillLabel` as one ``^XA ... ^XZ``
  format: the waybill as Code 128 (``^BC``, automatic subsets) and as text, the
  recipient's name, masked phone number and address, and the order id.
- Field data goes through ``^FH`` hex escapes (indicator ``_``): ``^``, ``~``,
  ``_`` and every non-ASCII character (as its UTF-8 bytes, ``^CI28``) are sent as
  ``_XX``, so that the format itself is plain ASCII and no field can end early or
  inject a command. Name and address are printed with a CJK-capable font called by
  name (``^A@``, default ``E:ANMDS.TTF``, Zebra's Simplified Chinese font; a site
  with another font passes its name); ASCII-only fields use the built-in font 0.
- The phone number is always masked (``mask_phone``), never printed in full; the
  name and address are printed in full (the courier needs them). Whitespace in
  name and address is collapsed to single spaces and control characters dropped.
- :func:`parse_label` reads a format back (for the simulator and tests).
- :func:`parse_host_status` / :func:`format_host_status`: the ``~HS`` answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from plateline.errors import ProtocolError
from plateline.records.privacy import mask_phone

HOST_STATUS = b"~HS"
STX, ETX = b"\x02", b"\x03"

DEFAULT_TEMPLATE = "waybill-100x150"
DEFAULT_CJK_FONT = "E:ANMDS.TTF"


@dataclass(frozen=True)
class _Layout:
    width: int  # dots (203 dpi: 8 dots/mm)
    length: int


#: label templates known to the builder (a recipe's ``label.template`` must be one).
LABEL_TEMPLATES: dict[str, _Layout] = {
    "waybill-100x150": _Layout(width=812, length=1218),
}

_ORDER_ID = re.compile(r"[A-Z0-9-]{6,32}")
_WAYBILL = re.compile(r"[A-Z0-9]{10,20}")
_FONT_NAME = re.compile(r"[A-Z]:[A-Z0-9_-]{1,16}\.(TTF|TTE|FNT)")


# -- labels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WaybillLabel:
    """What goes on one tray's waybill label; personal data stays out of ``repr``."""

    order_id: str
    waybill_no: str
    recipient_name: str = field(repr=False)
    recipient_phone: str = field(repr=False)
    recipient_address: str = field(repr=False)
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        if not _ORDER_ID.fullmatch(self.order_id):
            raise ValueError(f"order id {self.order_id!r}: 6-32 characters of A-Z 0-9 -")
        if not _WAYBILL.fullmatch(self.waybill_no):
            raise ValueError(f"waybill {self.waybill_no!r}: 10-20 characters of A-Z 0-9")
        if self.template not in LABEL_TEMPLATES:
            raise ValueError(f"unknown label template {self.template!r}; known: "
                             f"{', '.join(sorted(LABEL_TEMPLATES))}")
        if not clean_text(self.recipient_name):
            raise ValueError("recipient name is empty")
        if not clean_text(self.recipient_phone):
            raise ValueError("recipient phone is empty")


@dataclass(frozen=True)
class ParsedLabel:
    """What a printed label carries: the Code 128 data (None if unreadable) and the texts."""

    barcode: str | None
    texts: tuple[str, ...]


def clean_text(text: str) -> str:
    """Whitespace runs to one space, control and other unprintable characters dropped."""
    kept = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split())


def escape_field(text: str) -> str:
    """``^FH`` field data: ``^ ~ _`` and non-ASCII as ``_XX`` hex of their UTF-8 bytes."""
    out: list[str] = []
    for ch in text:
        if " " <= ch <= "~" and ch not in "^~_":
            out.append(ch)
        else:
            out.extend(f"_{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def unescape_field(data: str, indicator: str = "_") -> str:
    """Undo ``^FH`` escapes; ProtocolError for a bad escape or bytes that are not UTF-8."""
    raw = bytearray()
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == indicator:
            pair = data[i + 1:i + 3]
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise ProtocolError("bad ^FH escape", detail=repr(data[i:i + 3]))
            raw.append(int(pair, 16))
            i += 3
        else:
            raw += ch.encode("utf-8")
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError("field data is not UTF-8", detail=repr(bytes(raw[:32]))) from err


def build_label_zpl(label: WaybillLabel, *, cjk_font: str = DEFAULT_CJK_FONT) -> str:
    """The ZPL format (``^XA ... ^XZ``, plain ASCII) of one waybill label."""
    if not _FONT_NAME.fullmatch(cjk_font):
        raise ValueError(f"font {cjk_font!r} is not a printer font name like E:ANMDS.TTF")
    layout = LABEL_TEMPLATES[label.template]
    x, wrap = 40, layout.width - 80

    def text(y: int, size: int, value: str, *, cjk: bool = False, lines: int = 1) -> str:
        font = f"^A@N,{size},{size},{cjk_font}" if cjk else f"^A0N,{size},{size}"
        block = f"^FB{wrap},{lines},4,L,0" if lines > 1 else ""
        return f"^FO{x},{y}{font}{block}^FH^FD{escape_field(value)}^FS"

    parts = [
        "^XA", "^CI28", f"^PW{layout.width}", f"^LL{layout.length}", "^LH0,0",
        text(30, 32, "WAYBILL"),
        f"^FO{x},80^BY2,3,200^BCN,200,N,N,N,A^FH^FD{escape_field(label.waybill_no)}^FS",
        text(300, 56, label.waybill_no),
        text(400, 32, "TO"),
        text(440, 48, clean_text(label.recipient_name), cjk=True),
        text(500, 44, mask_phone(clean_text(label.recipient_phone))),
    ]
    address = clean_text(label.recipient_address)
    if address:
        parts.append(text(560, 40, address, cjk=True, lines=4))
    parts += [
        text(layout.length - 120, 32, "ORDER"),
        text(layout.length - 80, 40, label.order_id),
        "^XZ",
    ]
    return "\n".join(parts) + "\n"


_TOKEN = re.compile(r"([\^~])([A-Z@][A-Z0-9@]?)([^\^~]*)", re.DOTALL)


def parse_label(zpl: str | bytes) -> ParsedLabel:
    """Read one ``^XA ... ^XZ`` format back: the ``^BC`` data and the text fields.

    CR and LF between commands are ignored, as a printer does. The barcode is None
    when the format has no Code 128 field or its data is not printable ASCII
    (unencodable, so unreadable). ProtocolError for anything that is not one
    well-formed format (no ``^XA``/``^XZ``, an unclosed field, a bad escape).
    """
    text = _as_text(zpl).replace("\r", "").replace("\n", "")
    stripped = text.strip(" ")
    if not (stripped.startswith("^XA") and stripped.endswith("^XZ")):
        raise ProtocolError("not one ^XA ... ^XZ format", detail=repr(stripped[:32]))
    barcode: str | None = None
    seen_barcode = False
    texts: list[str] = []
    hex_indicator: str | None = None
    code128 = in_barcode = False
    data: str | None = None
    tokens = list(_TOKEN.finditer(stripped))
    if "".join(m.group(0) for m in tokens) != stripped:
        raise ProtocolError("malformed command in format", detail=repr(stripped[:32]))
    for i, match in enumerate(tokens):
        cmd, params = match.group(2), match.group(3)
        if cmd in ("XA", "XZ") and 0 < i < len(tokens) - 1:
            raise ProtocolError(f"^{cmd} inside a format")
        if cmd == "FH":
            hex_indicator = params[:1] or "_"
        elif cmd.startswith("B") and cmd[1:2] not in ("Y", ""):
            in_barcode, code128 = True, cmd == "BC"
        elif cmd in ("FD", "FV"):
            if data is not None:
                raise ProtocolError("second ^FD in one field")
            data = params
        elif cmd == "FS":
            if data is not None:
                value = unescape_field(data, hex_indicator) if hex_indicator else data
                if not in_barcode:
                    texts.append(value)
                elif code128 and not seen_barcode:
                    seen_barcode = True
                    barcode = value if value.isascii() and value.isprintable() else None
            data, hex_indicator, in_barcode, code128 = None, None, False, False
    if data is not None:
        raise ProtocolError("field data without ^FS")
    return ParsedLabel(barcode=barcode, texts=tuple(texts))


def _as_text(zpl: str | bytes) -> str:
    if isinstance(zpl, str):
        return zpl
    try:
        return zpl.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError("format is not UTF-8", detail=repr(zpl[:32])) from err


# -- host status (~HS) ----------------------------------------------------------------


@dataclass(frozen=True)
class PrinterStatus:
    """The flags of one ``~HS`` answer that matter to the line, and the answer itself."""

    paper_out: bool
    paused: bool
    head_open: bool
    ribbon_out: bool
    buffer_full: bool
    raw: bytes = field(repr=False)

    @property
    def faults(self) -> tuple[str, ...]:
        """The conditions that stop printing (PRINTER_FAULT), by name; empty when ready."""
        flags = (("paper_out", self.paper_out), ("paused", self.paused),
                 ("head_open", self.head_open), ("ribbon_out", self.ribbon_out))
        return tuple(name for name, on in flags if on)

    @property
    def ready(self) -> bool:
        """True when nothing stops the printer from printing."""
        return not self.faults


_F = rb"[0-9A-Z]"  # a field the line does not use: any digit or letter, exact width
_FLAG = rb"([01])"
_HS_LINE1 = rb"\x02" + rb",".join([
    _F * 3, _FLAG, _FLAG, _F * 4, _F * 3, _FLAG, _F, _F, _F * 3, _F, _F, _F]) + rb"\x03\r\n"
_HS_LINE2 = rb"\x02" + rb",".join([
    _F * 3, _F, _FLAG, _FLAG, _F, _F, _F, _F, _F * 8, _F, _F * 3]) + rb"\x03\r\n"
_HS_LINE3 = rb"\x02" + rb",".join([_F * 4, _F]) + rb"\x03\r\n"
_HS = re.compile(_HS_LINE1 + _HS_LINE2 + _HS_LINE3)


def parse_host_status(raw: bytes, *, device: str | None = None) -> PrinterStatus:
    """Parse the three STX ... ETX CR LF lines of a ``~HS`` answer, fields at their places.

    Line 1 ``aaa,b,c,dddd,eee,f,g,h,iii,j,k,l`` (b paper out, c pause, f buffer full),
    line 2 ``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www`` (o head open, p ribbon out), line 3
    ``xxxx,y``. ProtocolError for any other framing, width or flag value.
    """
    match = _HS.fullmatch(raw)
    if match is None:
        raise ProtocolError("malformed ~HS answer", device=device, detail=repr(raw[:48]))
    paper_out, paused, buffer_full, head_open, ribbon_out = (g == b"1" for g in match.groups())
    return PrinterStatus(paper_out=paper_out, paused=paused, head_open=head_open,
                         ribbon_out=ribbon_out, buffer_full=buffer_full, raw=raw)


def format_host_status(*, paper_out: bool = False, paused: bool = False,
                       head_open: bool = False, ribbon_out: bool = False,
                       buffer_full: bool = False, formats_waiting: int = 0,
                       label_length: int = 1218) -> bytes:
    """A ``~HS`` answer as a Zebra printer sends it (for the simulator and tests)."""
    b = {True: "1", False: "0"}
    line1 = (f"030,{b[paper_out]},{b[paused]},{label_length:04d},{formats_waiting:03d},"
             f"{b[buffer_full]},0,0,000,0,0,0")
    line2 = f"001,0,{b[head_open]},{b[ribbon_out]},1,2,6,0,00000000,1,000"
    line3 = "1234,0"
    return b"".join(STX + line.encode("ascii") + ETX + b"\r\n" for line in (line1, line2, line3))
