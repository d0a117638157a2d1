"""The line's configuration: one TOML file, validated at start with clear messages.

``plateline config example`` prints a complete, commented example
(``plateline/config_example.toml``); every key there is documented.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from plateline.errors import ConfigError

_DEVICE_NAME = r"^[A-Z][A-Z0-9_]{0,15}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModbusDevice(_Strict):
    driver: Literal["modbus"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    tag_map: str = "builtin:conv_modbus"
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.3


class CodeReaderDevice(_Strict):
    driver: Literal["lonloff"]
    port: str
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] = 115200
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.5


class HttpCameraDevice(_Strict):
    driver: Literal["http"]
    url: str
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://", v):
            raise ValueError("must start with http:// or https://")
        return v


class OpenCVCameraDevice(_Strict):
    driver: Literal["opencv"]
    source: int | str
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0


class FilesCameraDevice(_Strict):
    driver: Literal["files"]
    folder: Path
    loop: bool = False
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0


class ScaleDevice(_Strict):
    """Check-weigher ``W1`` (MT-SICS over serial)."""

    driver: Literal["mtsics"]
    port: str
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] = 115200
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.3


class PrinterDevice(_Strict):
    """Label printer ``P1`` (ZPL over serial)."""

    driver: Literal["zpl"]
    port: str
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] = 115200
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 1.0
    cjk_font: Annotated[str, Field(pattern=r"^[A-Z]:[A-Z0-9_-]{1,16}\.(TTF|TTE|FNT)$")] = (
        "E:ANMDS.TTF")


class OpcUaDevice(_Strict):
    """Packaging machine ``PACK`` (OPC UA). The password is never shown or logged."""

    driver: Literal["opcua"]
    url: Annotated[str, Field(pattern=r"^opc\.tcp://[^/@\s]+(/\S*)?$")]
    node_map: str = "builtin:packer_opcua"
    security: Literal["SignAndEncrypt", "None"] = "SignAndEncrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    user: str | None = None
    password: SecretStr | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    allow_insecure: bool = False
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0

    @model_validator(mode="after")
    def _security(self) -> OpcUaDevice:
        if self.security == "SignAndEncrypt" and (self.certificate is None
                                                  or self.private_key is None):
            raise ValueError("security SignAndEncrypt needs certificate and private_key")
        if self.password is not None and self.password_env is not None:
            raise ValueError("give password or password_env, not both")
        if (self.password is not None or self.password_env is not None) and not self.user:
            raise ValueError("a password needs a user")
        return self

    def resolved_password(self) -> str | None:
        """The password, from the file or from the environment variable it names."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.password_env} (PACK password) "
                              "is not set")
        return value


Device = Annotated[
    ModbusDevice | CodeReaderDevice | HttpCameraDevice | OpenCVCameraDevice | FilesCameraDevice | ScaleDevice | PrinterDevice | OpcUaDevice,
    Field(discriminator="driver"),
]

#: Optional stations and the devices each needs (name -> type).
OPTIONAL_STATIONS: dict[str, dict[str, type]] = {
    "PACK": {"PACK": OpcUaDevice},
    "WEIGH": {"W1": ScaleDevice},
    "LABEL": {"P1": PrinterDevice, "S2": CodeReaderDevice},
}


class DatabaseSettings(_Strict):
    url: str = "sqlite:///var/plateline.db"
    frames_dir: Path | None = Path("var/frames")
    frame_retention_days: Annotated[int, Field(ge=0)] = 30

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+\w+)?)://", v):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v


class TimingSettings(_Strict):
    heartbeat_period_s: Annotated[float, Field(gt=0, le=0.2)] = 0.1
    plc_heartbeat_timeout_s: Annotated[float, Field(gt=0, le=10)] = 1.0
    status_poll_s: Annotated[float, Field(gt=0, le=1)] = 0.05
    event_poll_s: Annotated[float, Field(gt=0, le=0.2)] = 0.01
    command_timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    field_of_view_mm: Annotated[float, Field(gt=0)] = 150.0
    verdict_stall_alarm_s: Annotated[float, Field(gt=0)] = 2.0
    loop_lag_warn_s: Annotated[float, Field(gt=0, le=10)] = 0.05


class VisionSettings(_Strict):
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    nice: Annotated[int, Field(ge=0, le=19)] = 5
    model: Path | None = None


class OrderSettings(_Strict):
    ebike_pattern: str | None = None

    @field_validator("ebike_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from err
        return v


class ExportSettings(_Strict):
    # EPCIS identifiers are URIs under this base, a domain the site controls.
    epcis_id_base: Annotated[str, Field(pattern=r"^https?://[^/]+/(.*/)?$")] = (
        "https://plateline.invalid/")
    # IANA zone of the events' local time, e.g. "Asia/Shanghai".
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {v!r}") from err
        return v


class ControlSettings(_Strict):
    # Unix socket of `plateline line ...` (operator commands from a shell on this
    # machine); who may use it is the socket file's owner and group.
    enabled: bool = True
    socket: Path = Path("var/control.sock")
    socket_mode: Annotated[int, Field(ge=0o600, le=0o777)] = 0o660


class LineConfig(_Strict):
    """The whole configuration of one line."""

    line_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    production: bool = False
    database: DatabaseSettings = DatabaseSettings()
    recipes_folder: Path | None = None
    orders: OrderSettings = OrderSettings()
    timing: TimingSettings = TimingSettings()
    vision: VisionSettings = VisionSettings()
    export: ExportSettings = ExportSettings()
    control: ControlSettings = ControlSettings()
    # Recipe put in force (changeover) when the controller starts, if PACK is configured.
    recipe: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")] | None = None
    devices: dict[str, Device]

    @model_validator(mode="after")
    def _devices(self) -> LineConfig:
        for name in self.devices:
            if not re.match(_DEVICE_NAME, name):
                raise ValueError(f"device name {name!r} must be upper case like CONV, S1, CAM1")
        required = {"CONV": ModbusDevice, "S1": CodeReaderDevice}
        for name, kind in required.items():
            if name not in self.devices:
                raise ValueError(f"devices.{name} is missing")
            if not isinstance(self.devices[name], kind):
                raise ValueError(f"devices.{name} has the wrong driver for this station")
        cam = self.devices.get("CAM1")
        if not isinstance(cam, (HttpCameraDevice, OpenCVCameraDevice, FilesCameraDevice)):
            raise ValueError("devices.CAM1 is missing or not a camera (http, opencv, files)")
        for station, needs in OPTIONAL_STATIONS.items():
            present = [name for name in needs if name in self.devices]
            for name in present:
                if not isinstance(self.devices[name], needs[name]):
                    raise ValueError(f"devices.{name} has the wrong driver for this station")
            if present and len(present) != len(needs):
                missing = [n for n in needs if n not in present]
                raise ValueError(f"station {station} needs devices "
                                 f"{' and '.join(needs)}: devices.{missing[0]} is missing")
        pack = self.devices.get("PACK")
        if (isinstance(pack, OpcUaDevice) and self.production and pack.security == "None"
                and not pack.allow_insecure):
            raise ValueError("devices.PACK: a production line refuses the OPC UA endpoint "
                             "without security (security = \"None\") unless "
                             "allow_insecure = true")
        return self

    @property
    def stations(self) -> tuple[str, ...]:
        """The line's stations in flow order, from the devices configured."""
        optional = [s for s, needs in OPTIONAL_STATIONS.items()
                    if all(n in self.devices for n in needs)]
        return ("INFEED", "VISION", *optional)


def _format(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        lines.append(f"  {loc or '(top level)'}: {e['msg']}")
    return "\n".join(lines)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> LineConfig:
    """Validate TOML text; relative paths are taken from ``base_dir``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from err
    try:
        cfg = LineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from err
    return _resolve_paths(cfg, base_dir) if base_dir else cfg


def load_config(path: Path) -> LineConfig:
    """Read and validate a configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    return parse_config(text, source=str(path), base_dir=path.parent)


def example_config_text() -> str:
    """The complete, commented example configuration."""
    return (resources.files("plateline") / "config_example.toml").read_text(encoding="utf-8")


def _resolve(base: Path, p: Path | None) -> Path | None:
    return None if p is None or p.is_absolute() else base / p


def _resolve_paths(cfg: LineConfig, base: Path) -> LineConfig:
    db = cfg.database
    url = db.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        url = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))
    frames = _resolve(base, db.frames_dir) or db.frames_dir
    devices = {}
    for name, dev in cfg.devices.items():
        if (isinstance(dev, (CodeReaderDevice, ScaleDevice, PrinterDevice))
                and not re.match(r"^(/|[A-Z]+\d+$|\w+://)", dev.port)):
            dev = dev.model_copy(update={"port": str(base / dev.port)})
        elif isinstance(dev, OpcUaDevice):
            dev = dev.model_copy(update={
                "certificate": _resolve(base, dev.certificate) or dev.certificate,
                "private_key": _resolve(base, dev.private_key) or dev.private_key,
                "server_certificate": (_resolve(base, dev.server_certificate)
                                       or dev.server_certificate),
                "node_map": (dev.node_map if dev.node_map.startswith("builtin:")
                             else str(_resolve(base, Path(dev.node_map)) or dev.node_map))})
        elif isinstance(dev, FilesCameraDevice):
            dev = dev.model_copy(update={"folder": _resolve(base, dev.folder) or dev.folder})
        elif isinstance(dev, ModbusDevice) and not dev.tag_map.startswith("builtin:"):
            dev = dev.model_copy(update={"tag_map": str(_resolve(base, Path(dev.tag_map)) or dev.tag_map)})
        devices[name] = dev
    return cfg.model_copy(update={
        "database": db.model_copy(update={"url": url, "frames_dir": frames}),
        "recipes_folder": _resolve(base, cfg.recipes_folder) or cfg.recipes_folder,
        "control": cfg.control.model_copy(
            update={"socket": _resolve(base, cfg.control.socket) or cfg.control.socket}),
        "vision": cfg.vision.model_copy(
            update={"model": _resolve(base, cfg.vision.model) or cfg.vision.model}),
        "devices": devices,
    })
