"""DICOM network addresses, AE titles and DICOM TLS contexts shared by the PACS link.

A peer is written ``AE@HOST:PORT`` (e.g. ``ORTHANC@127.0.0.1:4242``,
:func:`parse_peer`). AE titles are 1–16 characters of printable ASCII without
backslash, leading/trailing spaces ignored (PS3.5 AE value representation;
:func:`check_ae_title`). DICOM TLS (PS3.15 B.1/B.9) is optional:
:class:`TlsFiles` names a PEM certificate and key and optionally the CA that
peers' certificates must be signed by; :func:`server_context` and
:func:`client_context` make the :class:`ssl.SSLContext` for the listener and
for the SCU. Network failures are :class:`~sstrkit.errors.InvalidInputError`
naming the peer (:func:`unreachable`).

Examples
--------
>>> parse_peer("ORTHANC@127.0.0.1:4242")
Peer(ae_title='ORTHANC', host='127.0.0.1', port=4242)
>>> str(parse_peer("PACS@[::1]:104"))
'PACS@[::1]:104'
>>> check_ae_title("sstrkit", "--ae")
'sstrkit'
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from sstrkit.errors import InvalidInputError

__all__ = [
    "Peer",
    "TlsFiles",
    "check_ae_title",
    "check_port",
    "client_context",
    "parse_ae_list",
    "parse_peer",
    "server_context",
    "unreachable",
]

_PEER = re.compile(r"^(?P<ae>[^@]+)@(?P<host>\[[^\]]+\]|[^:@\[\]]+):(?P<port>\d+)$")


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity on the network."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


def check_ae_title(value: str, what: str) -> str:
    """``value`` as an AE title (1–16 printable ASCII characters, no backslash)."""
    title = value.strip()
    if not 1 <= len(title) <= 16 or not all(32 <= ord(c) < 127 and c != "\\" for c in title):
        raise InvalidInputError(
            what,
            expected="an AE title of 1-16 printable ASCII characters without backslash",
            actual=repr(value),
        )
    return title


def check_port(value: int, what: str) -> int:
    """``value`` as a TCP port (1–65535)."""
    if not 1 <= value <= 65535:
        raise InvalidInputError(what, expected="a TCP port 1-65535", actual=value)
    return value


def parse_peer(value: str, what: str = "--to") -> Peer:
    """``AE@HOST:PORT`` → :class:`Peer` (an IPv6 host in brackets)."""
    m = _PEER.match(value.strip())
    if m is None:
        raise InvalidInputError(
            what,
            expected="AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242",
            actual=repr(value),
        )
    host = m["host"].strip("[]")
    return Peer(check_ae_title(m["ae"], what), host, check_port(int(m["port"]), what))


def parse_ae_list(value: str | None, what: str = "--allow") -> tuple[str, ...]:
    """``AE1,AE2`` → AE titles (empty for ``None``)."""
    if value is None:
        return ()
    titles = tuple(check_ae_title(v, what) for v in value.split(",") if v.strip())
    if not titles:
        raise InvalidInputError(what, expected="AE titles separated by commas", actual=repr(value))
    return titles


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of DICOM TLS: own certificate and key, CA of the peers (optional)."""

    cert: Path
    key: Path
    ca: Path | None = None

    @classmethod
    def from_options(cls, cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
        """The files of ``--tls-cert/--tls-key/--tls-ca``, or ``None`` without TLS."""
        if cert is None and key is None and ca is None:
            return None
        if cert is None or key is None:
            raise InvalidInputError(
                "--tls-cert/--tls-key",
                expected="both a PEM certificate and its key for DICOM TLS",
                actual=f"cert {cert}, key {key}",
            )
        for opt, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
            if path is not None and not Path(path).is_file():
                raise InvalidInputError(opt, expected="an existing PEM file", actual=str(path))
        return cls(Path(cert), Path(key), None if ca is None else Path(ca))


def _load(ctx: ssl.SSLContext, tls: TlsFiles) -> ssl.SSLContext:
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
        if tls.ca is not None:
            ctx.load_verify_locations(cafile=str(tls.ca))
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidInputError(
            "--tls-cert/--tls-key/--tls-ca",
            expected="PEM certificate, matching key and CA certificate",
            actual=" ".join(str(exc).split()),
        ) from None
    return ctx


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    """Listener context: TLS 1.2+, own certificate; peers must present one signed by the CA
    when ``tls.ca`` is given (mutual TLS, as PS3.15 B.9 recommends)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(ctx, tls)
    if tls.ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(tls: TlsFiles) -> ssl.SSLContext:
    """SCU context: TLS 1.2+, own certificate; the server's is checked against ``tls.ca``
    (host name included) when given, else only encryption is asked for."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _load(ctx, tls)
    return ctx


def unreachable(peer: Peer, what: str, calling_ae: str, detail: str = "") -> InvalidInputError:
    """The error of an association that was refused, rejected or aborted."""
    return InvalidInputError(
        what,
        expected=f"a DICOM node at {peer} accepting associations from {calling_ae}",
        actual="no association" + (f" ({detail})" if detail else ""),
        fix=(
            f"check that {peer.ae_title} runs at {peer.host}:{peer.port}, that it knows the "
            f"calling AE title {calling_ae} and, with DICOM TLS, the certificates"
        ),
    )
