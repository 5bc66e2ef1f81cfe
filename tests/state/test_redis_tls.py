"""``rediss://``: the server's certificate and host name are verified, as any TLS client must."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.errors import StateUnavailable
from tests.conftest import Clock, Run
from tests.helpers import redis_state
from tests.redis_server import RedisServer
from tests.servers import free_port


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it signs for ``localhost``: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("shapestoken test CA"))
        .issuer_name(_name("shapestoken test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, int, Path]]:
    """A redis-server with a TLS port (certificate for localhost) beside its plain one."""
    directory = tmp_path_factory.mktemp("redis-tls")
    ca, cert, key = write_pki(directory)
    tls_port = free_port()
    server = RedisServer(
        directory / "data",
        extra=(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(cert),
            "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(ca),
            "--tls-auth-clients", "no",
        ),
    ).start()  # fmt: skip
    yield server, tls_port, ca
    server.stop()


def test_rediss_works_with_a_trusted_certificate(
    tls_redis: tuple[RedisServer, int, Path],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    run: Run,
) -> None:
    _, port, ca = tls_redis
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # a private CA, as the operations guide says
    state = redis_state(f"rediss://localhost:{port}/0", clock)
    run(state.ping())
    run(state.hit("per_ip", "a"))
    run(state.aclose())


@pytest.mark.parametrize(
    ("host", "trust_ca", "reason"),
    [
        ("localhost", False, "certificate verify failed"),  # an unknown CA
        ("127.0.0.1", True, "IP address mismatch"),  # the certificate names localhost only
    ],
)
def test_rediss_refuses_an_unverified_server(
    tls_redis: tuple[RedisServer, int, Path],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    run: Run,
    host: str,
    trust_ca: bool,
    reason: str,
) -> None:
    _, port, ca = tls_redis
    if trust_ca:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    state = redis_state(f"rediss://{host}:{port}/0", clock)
    with pytest.raises(StateUnavailable) as refused:
        run(state.ping())
    causes = []
    cause: BaseException | None = refused.value.__cause__
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    (verification,) = [c for c in causes if isinstance(c, ssl.SSLCertVerificationError)]
    assert reason in str(verification)
    run(state.aclose())
