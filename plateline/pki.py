"""Application instance certificates for OPC UA, made with ``cryptography``.

A pure helper shared by the OPC UA driver (the controller's own certificate) and
the packer simulator (its server certificate): no network, no asyncio. Creating
an RSA key takes tens of milliseconds; call it from a thread in async code.

OPC UA wants the application URI in the certificate's SubjectAltName; the
controller's certificate and key paths are configuration, created on first use.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plateline.errors import ConfigError

KEY_BITS = 2048
DEFAULT_DAYS = 5 * 365


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the rest of the code needs to know about an application certificate."""

    path: Path
    application_uri: str
    common_name: str
    not_after: dt.datetime
    sha256: str

    def __str__(self) -> str:
        return f"{self.path} ({self.application_uri}, valid until {self.not_after:%Y-%m-%d})"


def ensure_certificate(cert_path: Path, key_path: Path, *, application_uri: str, common_name: str,
                       hostnames: Iterable[str] = (), days: int = DEFAULT_DAYS) -> CertificateInfo:
    """Create a self-signed application certificate and its key unless both exist.

    The certificate is DER when ``cert_path`` ends in ``.der``, else PEM; the key is
    unencrypted PKCS#8 PEM, readable by its owner only. Existing files are checked,
    never replaced: a certificate without its key, a key without its certificate, a
    key that does not match, or another application URI is a ConfigError.
    """
    cert_path, key_path = Path(cert_path), Path(key_path)
    has_cert, has_key = cert_path.exists(), key_path.exists()
    if has_cert and has_key:
        info = certificate_info(cert_path)
        _check_pair(cert_path, key_path)
        if info.application_uri != application_uri:
            raise ConfigError(f"{cert_path}: certificate is for {info.application_uri!r}, "
                              f"configured application URI is {application_uri!r}")
        return info
    if has_cert or has_key:
        present, missing = (cert_path, key_path) if has_cert else (key_path, cert_path)
        raise ConfigError(f"{present} exists but {missing} does not: restore it or remove both "
                          f"to create a new application certificate")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    cert = _self_signed(key, application_uri, common_name, hostnames, days)
    for path in (cert_path, key_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    _write_private(key_path, key_bytes)
    encoding = serialization.Encoding.DER if _is_der(cert_path) else serialization.Encoding.PEM
    cert_path.write_bytes(cert.public_bytes(encoding))
    return certificate_info(cert_path)


def load_certificate(path: Path) -> x509.Certificate:
    """Load a DER or PEM certificate; ConfigError when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read certificate: {err}") from err
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as err:
        raise ConfigError(f"{path}: not a certificate: {err}") from err


def certificate_der(path: Path) -> bytes:
    """The DER bytes of a certificate file (DER or PEM)."""
    return load_certificate(path).public_bytes(serialization.Encoding.DER)


def certificate_info(path: Path) -> CertificateInfo:
    """Application URI, common name, expiry and fingerprint of a certificate file."""
    cert = load_certificate(path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if not uris:
        raise ConfigError(f"{path}: certificate has no application URI in its SubjectAltName")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    return CertificateInfo(path=Path(path), application_uri=uris[0], common_name=common_name,
                           not_after=cert.not_valid_after_utc,
                           sha256=cert.fingerprint(hashes.SHA256()).hex())


def _self_signed(key: rsa.RSAPrivateKey, application_uri: str, common_name: str,
                 hostnames: Iterable[str], days: int) -> x509.Certificate:
    if not application_uri or ":" not in application_uri:
        raise ConfigError(f"application URI {application_uri!r} is not a URI")
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for host in dict.fromkeys([*hostnames, socket.gethostname(), "localhost"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plateline")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                     key_encipherment=True, data_encipherment=True,
                                     key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                              ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _check_pair(cert_path: Path, key_path: Path) -> None:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"{key_path}: cannot read private key: {err}") from err
    cert_key = load_certificate(cert_path).public_key()
    if cert_key.public_bytes(serialization.Encoding.DER,
                             serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigError(f"{key_path} is not the key of {cert_path}")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _is_der(path: Path) -> bool:
    return path.suffix.lower() in (".der", ".cer")


__all__ = ["CertificateInfo", "certificate_der", "certificate_info", "ensure_certificate",
           "load_certificate"]
