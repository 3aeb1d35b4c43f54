"""Who may talk to the listener: loopback by default, calling-AE filter, DICOM TLS.

The listener runs in-process (:class:`sstrkit.pacs.scp.Listener`) on a free loopback
port; the peers are sstrkit's own SCU (:mod:`sstrkit.pacs.scu`). The TLS test makes a
self-signed certificate with ``openssl`` (Debian ``openssl``) for 127.0.0.1, used as
the listener's certificate, the client's certificate and the CA of both (mutual TLS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pydicom
import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.network import Peer, TlsFiles, server_context
from sstrkit.pacs.scp import Listener, ListenerConfig
from sstrkit.pacs.scu import close_socket, echo, send_files
from sstrkit.pacs.store import InstanceStore

from .conftest import dicom_files, free_port


def _listener(tmp_path: Path, **config: Any) -> tuple[Listener, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    listener = Listener(
        InstanceStore(tmp_path / "store"),
        ListenerConfig(port=free_port(), **config),
        on_event=events.append,
    )
    return listener, events


def test_listener_binds_to_loopback_by_default(tmp_path: Path) -> None:
    listener, _ = _listener(tmp_path)
    with listener:
        assert listener.address[0] == "127.0.0.1"
        assert echo(Peer("SSTRKIT", "127.0.0.1", listener.port)) == 0


def test_only_listed_calling_ae_titles_get_an_association(tmp_path: Path) -> None:
    listener, events = _listener(tmp_path, allow=("MODALITY",))
    with listener:
        peer = Peer("SSTRKIT", "127.0.0.1", listener.port)
        assert echo(peer, ae_title="MODALITY") == 0
        with pytest.raises(InvalidInputError, match="rejected"):
            echo(peer, ae_title="INTRUDER")
    assert [e["calling_ae"] for e in events if e["event"] == "association_rejected"] == ["INTRUDER"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    openssl = shutil.which("openssl")
    if openssl is None:
        reason = "openssl is not installed: apt-get install openssl"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason + " (required under CI=true)")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return TlsFiles(cert, key, cert)


def test_tls_round_trip_and_no_plain_association(
    tmp_path: Path, certificate: TlsFiles, phantom: Path
) -> None:
    listener, _ = _listener(tmp_path, ssl_context=server_context(certificate))
    files = dicom_files(phantom / "dicom" / "cycle1" / "spect_024h")
    with listener:
        peer = Peer("SSTRKIT", "127.0.0.1", listener.port)
        assert echo(peer, tls=certificate) == 0
        sent = send_files(peer, files, tls=certificate)
        with pytest.raises(InvalidInputError):
            echo(peer)  # without TLS: no association
        unsigned = TlsFiles(certificate.cert, certificate.key, None)
        assert echo(peer, tls=unsigned) == 0  # encryption without checking the server
    assert sent.sent == len(files) and not sent.failed
    stored = dicom_files(listener.store.root)
    assert {p.stem for p in stored} == {
        pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files
    }


def test_tls_listener_refuses_a_client_without_certificate(
    tmp_path: Path, certificate: TlsFiles
) -> None:
    import ssl

    listener, _ = _listener(tmp_path, ssl_context=server_context(certificate))
    with listener:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=str(certificate.cert))
        from pynetdicom import AE

        ae = AE(ae_title="NOCERT")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", listener.port, tls_args=(ctx, "127.0.0.1"))
        established = assoc.is_established
        close_socket(assoc)
    assert not established


def test_a_busy_port_and_a_sop_class_outside_the_conformance_are_refused(
    tmp_path: Path, phantom: Path
) -> None:
    import numpy as np
    from pydicom.uid import generate_uid

    from sstrkit.core.volume import Volume
    from sstrkit.io.dicom_write import write_rtdose

    listener, _ = _listener(tmp_path)
    with listener:
        with pytest.raises(InvalidInputError, match="--host/--port"):
            Listener(InstanceStore(tmp_path / "other"), ListenerConfig(port=listener.port)).start()
        dose = Volume.from_array(
            np.ones((2, 3, 4)),
            quantity="absorbed_dose",
            unit="Gy",
            modality="RTDOSE",
            frame_of_reference_uid=generate_uid(),
        )
        rtdose = write_rtdose(dose, tmp_path / "rtdose.dcm")
        peer = Peer("SSTRKIT", "127.0.0.1", listener.port)
        with pytest.raises(InvalidInputError, match="no proposed SOP class"):
            send_files(peer, [rtdose])  # nothing the listener accepts: no association
        ct = dicom_files(phantom / "dicom" / "pet_dotatate_ct")[0]
        report = send_files(peer, [ct, rtdose])
    assert report.sent == 1 and [f["file"] for f in report.failed] == [str(rtdose)]
    assert [p.stem for p in dicom_files(listener.store.root)] == [
        pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    ]
