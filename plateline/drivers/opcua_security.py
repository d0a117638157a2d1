"""Security settings of an OPC UA link and the translation of OPC UA status codes.

Which endpoint and which credentials the controller uses is configuration: a
:class:`SecuritySettings` is built from it and checked at start-up (the ``None``
endpoint only with ``allow_none``). The password never appears in a repr or log.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asyncua import ua
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plateline.errors import ConfigError, DeviceConnectionError, DeviceError, DeviceFault

SecurityMode = Literal["None", "SignAndEncrypt"]
SecurityPolicyName = Literal["Basic256Sha256"]


@dataclass(frozen=True)
class SecuritySettings:
    """How to connect: endpoint security, our application certificate, the user.

    ``mode="None"`` (no signing, no encryption; development only) is refused unless
    ``allow_none`` is set. ``SignAndEncrypt`` needs ``certificate`` and ``private_key``
    (see :func:`plateline.pki.ensure_certificate`); ``server_certificate`` pins the
    server's certificate (without it, it is taken from the server's endpoint list
    unauthenticated). Without ``user`` the session is anonymous.
    """

    mode: SecurityMode = "SignAndEncrypt"
    policy: SecurityPolicyName = "Basic256Sha256"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_none: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("None", "SignAndEncrypt"):
            raise ConfigError(f"OPC UA security mode {self.mode!r} is not one of None, "
                              f"SignAndEncrypt")
        if self.policy != "Basic256Sha256":
            raise ConfigError(f"OPC UA security policy {self.policy!r} is not supported; "
                              f"use Basic256Sha256")
        if self.mode == "None" and not self.allow_none:
            raise ConfigError("the OPC UA endpoint without security (mode \"None\") is for "
                              "development only: set allow_none = true to use it")
        if self.mode == "SignAndEncrypt" and (self.certificate is None or self.private_key is None):
            raise ConfigError("OPC UA mode SignAndEncrypt needs the controller's certificate "
                              "and private key")
        if self.password is not None and not self.user:
            raise ConfigError("OPC UA password given without a user name")
        if self.user is not None and not self.user.strip():
            raise ConfigError("OPC UA user name is empty")

    @property
    def secure(self) -> bool:
        return self.mode == "SignAndEncrypt"

    def __repr__(self) -> str:
        secret = "'***'" if self.password is not None else "None"
        return (f"SecuritySettings(mode={self.mode!r}, policy={self.policy!r}, "
                f"certificate={self.certificate!r}, private_key={self.private_key!r}, "
                f"server_certificate={self.server_certificate!r}, user={self.user!r}, "
                f"password={secret}, allow_none={self.allow_none!r})")

    __str__ = __repr__


@dataclass(frozen=True)
class KeyMaterial:
    """Our certificate and private key and the pinned server certificate, loaded."""

    certificate: x509.Certificate
    private_key: Any
    server_certificate: x509.Certificate


def load_key_material(sec: SecuritySettings) -> KeyMaterial:
    """Load (once per file version) what a SignAndEncrypt session with a pinned server
    certificate needs. Loading an RSA key checks it, which takes tens of milliseconds:
    call this in a worker thread, never on the event loop."""
    assert sec.certificate is not None and sec.private_key is not None
    assert sec.server_certificate is not None
    paths = (sec.certificate, sec.private_key, sec.server_certificate)
    try:
        stamp = tuple(p.stat().st_mtime_ns for p in paths)
        return _load_key_material(paths, stamp)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot load the OPC UA certificates or key: {err}") from err


@functools.lru_cache(maxsize=8)
def _load_key_material(paths: tuple[Path, Path, Path], stamp: tuple[int, ...]) -> KeyMaterial:
    cert, key, server = (p.read_bytes() for p in paths)
    return KeyMaterial(_certificate(cert), _private_key(key), _certificate(server))


def _certificate(data: bytes) -> x509.Certificate:
    if data.lstrip().startswith(b"-----"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _private_key(data: bytes) -> Any:
    if data.lstrip().startswith(b"-----"):
        return serialization.load_pem_private_key(data, password=None)
    return serialization.load_der_private_key(data, password=None)


class OpcUaSecurityError(DeviceConnectionError):
    """The server refused us on security grounds: certificate, user or password.

    ``status`` is the OPC UA status name (``BadCertificateUntrusted`` ...) when known.
    """

    def __init__(self, message: str, *, device: str | None = None, status: str | None = None):
        self.status = status
        super().__init__(message, device=device, detail=status)


S = ua.StatusCodes

_CERTIFICATE = frozenset({
    S.BadCertificateUntrusted, S.BadCertificateInvalid, S.BadCertificateTimeInvalid,
    S.BadCertificateUriInvalid, S.BadCertificateUseNotAllowed, S.BadCertificateRevoked,
    S.BadCertificateIssuerRevoked, S.BadCertificateRevocationUnknown,
    S.BadCertificateHostNameInvalid, S.BadCertificateIssuerUseNotAllowed,
    S.BadCertificatePolicyCheckFailed, S.BadSecurityPolicyRejected, S.BadSecurityModeRejected,
})
_IDENTITY = frozenset({
    S.BadUserAccessDenied, S.BadIdentityTokenInvalid, S.BadIdentityTokenRejected,
    S.BadUserSignatureInvalid,
})
SECURITY_CODES: frozenset[int] = _CERTIFICATE | _IDENTITY | {S.BadSecurityChecksFailed}

#: Status codes that mean the session or channel is gone: the link must be rebuilt.
LINK_CODES: frozenset[int] = frozenset({
    S.BadSessionIdInvalid, S.BadSessionClosed, S.BadSessionNotActivated,
    S.BadSecureChannelIdInvalid, S.BadSecureChannelClosed, S.BadConnectionClosed,
    S.BadServerNotConnected, S.BadShutdown, S.BadCommunicationError, S.BadServerHalted,
    S.BadNotConnected, S.BadTcpSecureChannelUnknown, S.BadDisconnect, S.BadConnectionRejected,
    S.BadSubscriptionIdInvalid, S.BadNoSubscription, S.BadTooManySessions,
})


def status_name(code: int) -> str:
    """``BadOutOfRange`` for its code; unknown codes as hex."""
    name, _ = ua.status_codes.get_name_and_doc(code)
    return name if name not in ("Bad", "Good", "Uncertain") else f"{name}(0x{code:08X})"


def connect_error(code: int, *, device: str, user: str | None) -> DeviceError:
    """What a refused connect attempt means, in words an operator can act on."""
    name = status_name(code)
    if code in _CERTIFICATE:
        return OpcUaSecurityError(
            "server refused our application certificate: add it to the server's trust list "
            "(or check its validity and application URI)", device=device, status=name)
    if code in _IDENTITY:
        who = f"user {user!r}" if user else "anonymous session"
        return OpcUaSecurityError(
            f"server refused the {who}: wrong user name or password, or not allowed on this "
            f"endpoint", device=device, status=name)
    if code == S.BadSecurityChecksFailed:
        return OpcUaSecurityError(
            "security checks failed (certificate, signature or server certificate mismatch)",
            device=device, status=name)
    if code in LINK_CODES:
        return DeviceConnectionError(f"connect failed: {name}", device=device)
    return DeviceConnectionError(f"connect refused: {name}", device=device)


def call_error(code: int, what: str, *, device: str, user: str | None) -> DeviceError:
    """A refused read, write or subscription request as a plateline error."""
    name = status_name(code)
    doc = ua.status_codes.get_name_and_doc(code)[1] or None
    if code in LINK_CODES:
        return DeviceConnectionError(f"{what}: session lost ({name})", device=device)
    if code in _IDENTITY:
        who = f"user {user!r}" if user else "the anonymous session"
        return DeviceFault(f"{what} refused: {name}: access denied for {who}", device=device,
                           code=code, detail=doc)
    return DeviceFault(f"{what} refused: {name}", device=device, code=code, detail=doc)


__all__ = ["LINK_CODES", "SECURITY_CODES", "KeyMaterial", "OpcUaSecurityError", "SecurityMode",
           "SecuritySettings", "call_error", "connect_error", "load_key_material",
           "status_name"]
