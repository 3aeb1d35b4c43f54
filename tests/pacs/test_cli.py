"""``sstrkit pacs`` command line: bad input is one line on stderr and exit status 2
(with ``--json`` also the error document on stdout), checked before any network or
export work; the documented conformance names every SOP class and transfer syntax
the code accepts and sends (docs/pacs.md)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.pacs.conformance import conformance_summary

from .conftest import free_port

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "pacs.md"


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["send", "OUT", "--to", "ORTHANC@localhost"], "--to"),
        (["send", "OUT"], "--to/--stow"),
        (["query", "--patient-id", "X"], "--from/--dicomweb"),
        (["query", "--from", "A@127.0.0.1:1", "--level", "image"], "--level"),
        (["retrieve", "--from", "A@127.0.0.1:1", "--store", "S", "--method", "fetch"], "--method"),
        (["listen", "--store", "S", "--run"], "--out"),
        (["listen", "--store", "S", "--ae", "MUCH_TOO_LONG_AE_TITLE"], "--ae"),
        (["listen", "--store", "S", "--tls-cert", "c.pem"], "--tls-cert/--tls-key"),
        # pynetdicom 3.0 drops the socket of a refused connection without closing it
        # (transport.AssociationSocket.connect): its ResourceWarning is not ours
        pytest.param(
            ["echo", "X@127.0.0.1:1"],
            "PEER",
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str], what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if args[0] == "echo":  # nobody listens on that port: the peer is named in the error
        args = ["echo", f"X@127.0.0.1:{free_port()}"]
    res = runner.invoke(app, ["pacs", *args])
    gc.collect()  # the leaked socket (echo) is reported inside this test
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {what}"), res.stderr
    doc = json.loads(runner.invoke(app, ["pacs", *args, "--json"]).stdout)
    gc.collect()
    assert doc["error"]["exit_code"] == 2 and doc["error"]["what"].startswith(what)


def test_send_of_a_folder_without_a_run_names_it(tmp_path: Path) -> None:
    res = runner.invoke(app, ["pacs", "send", str(tmp_path), "--to", "A@127.0.0.1:104"])
    assert res.exit_code == 2
    assert "results.json" in res.stderr and "sstrkit run" in res.stderr


def test_docs_list_every_sop_class_and_transfer_syntax() -> None:
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    summary = conformance_summary()
    for part in summary.values():
        assert isinstance(part, dict)
        for key in ("sop_classes", "transfer_syntaxes", "c_get_storage_scp_role"):
            for item in part.get(key, []):
                assert item["uid"] in text and item["name"] in text, item
