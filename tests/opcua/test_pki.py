from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from plateline.errors import ConfigError
from plateline.pki import certificate_der, certificate_info, ensure_certificate, load_certificate

URI = "urn:plateline:test:pki"


def test_creates_a_self_signed_application_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "sub" / "app.der", tmp_path / "sub" / "app-key.pem"
    info = ensure_certificate(cert, key, application_uri=URI, common_name="test app",
                              hostnames=["plc-1", "10.0.0.5"])
    assert info.application_uri == URI and info.common_name == "test app"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not cert.read_bytes().startswith(b"-----")  # .der is DER
    loaded = load_certificate(cert)
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [URI]
    assert "plc-1" in san.get_values_for_type(x509.DNSName)
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    usage = loaded.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and usage.data_encipherment
    eku = loaded.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku and ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert loaded.issuer == loaded.subject


def test_existing_pair_is_kept_and_pem_works(tmp_path: Path) -> None:
    cert, key = tmp_path / "app.pem", tmp_path / "app-key.pem"
    first = ensure_certificate(cert, key, application_uri=URI, common_name="a")
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE")
    again = ensure_certificate(cert, key, application_uri=URI, common_name="other name")
    assert again.sha256 == first.sha256
    assert certificate_der(cert) == load_certificate(cert).public_bytes(Encoding.DER)


def test_half_pairs_wrong_uri_and_foreign_keys_are_refused(tmp_path: Path) -> None:
    cert, key = tmp_path / "a.der", tmp_path / "a-key.pem"
    ensure_certificate(cert, key, application_uri=URI, common_name="a")
    with pytest.raises(ConfigError, match="certificate is for 'urn:plateline:test:pki'"):
        ensure_certificate(cert, key, application_uri="urn:other", common_name="a")
    other_cert, other_key = tmp_path / "b.der", tmp_path / "b-key.pem"
    ensure_certificate(other_cert, other_key, application_uri=URI, common_name="b")
    with pytest.raises(ConfigError, match="is not the key of"):
        ensure_certificate(cert, other_key, application_uri=URI, common_name="a")
    key.unlink()
    with pytest.raises(ConfigError, match="exists but .* does not"):
        ensure_certificate(cert, key, application_uri=URI, common_name="a")
    with pytest.raises(ConfigError, match="not a URI"):
        ensure_certificate(tmp_path / "c.der", tmp_path / "c.pem", application_uri="nouri",
                           common_name="c")


def test_unreadable_or_uri_less_certificates_are_config_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"not a certificate")
    with pytest.raises(ConfigError, match="not a certificate"):
        certificate_info(junk)
    with pytest.raises(ConfigError, match="cannot read"):
        certificate_info(tmp_path / "missing.der")
