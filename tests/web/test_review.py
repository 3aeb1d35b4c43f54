"""The review workflow: sign with the password, append-only audit, supersession, report banner.

Reference for ``record_sha256``: its definition (sstrkit.registry.approvals): SHA-256 of the
canonical JSON (sorted keys, no blanks, UTF-8) of the decision's fields, recomputed here
with hashlib from what the API returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from sstrkit.registry import open_registry

from .conftest import PASSWORD, Server, WebCohort, registry_copy, serve


def _banner(html: str) -> str:
    m = re.search(r'<section id="sstrkit-review".*?</section>', html, re.S)
    assert m, "no review banner in the report"
    return m.group(0)


def _cell(banner: str, cycle: int) -> str:
    m = re.search(rf'<td[^>]*data-cycle="{cycle}" data-state="(\w+)"[^>]*>(.*?)</td>', banner, re.S)
    assert m, f"no cell of cycle {cycle}"
    return f"{m.group(1)}|{m.group(2)}"


@pytest.fixture
def run_id(private_server: Server, web_cohort: WebCohort) -> int:
    with private_server.login("doc") as c:
        doc = c.get(f"/api/patients/{web_cohort.patient_ids[0]}").json()
    return int(doc["studies"][0]["current_run_id"])


def test_approve_with_password_is_recorded_and_shown_in_the_report(
    private_server: Server, run_id: int, web_cohort: WebCohort
) -> None:
    body = {"decision": "approved", "comment": "kidney VOIs on the kidneys", "password": PASSWORD}
    url = f"/api/runs/{run_id}/cycles/1/review"
    with private_server.login("phys") as c:
        wrong = c.post(url, json={**body, "password": "not my password"})
        nothing = c.get(f"/api/runs/{run_id}/decisions").json()
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        signed = c.post(url, json=body)
        after = dt.datetime.now(dt.UTC)
        no_cycle = c.post(f"/api/runs/{run_id}/cycles/9/review", json=body)
        report = c.get(f"/runs/{run_id}/report")
    with private_server.login("doc") as c:
        as_physician = c.post(url, json=body)
    assert wrong.status_code == 403 and nothing == []
    assert signed.status_code == 201, signed.text
    d = signed.json()
    assert (d["decision"], d["state"], d["user_name"], d["user_role"]) == (
        "approved", "standing", "phys", "physicist",
    )  # fmt: skip
    assert before <= dt.datetime.fromisoformat(d["signed_at"]) <= after
    results = json.loads((web_cohort.outs[web_cohort.patient_ids[0]] / "results.json").read_text())
    assert d["sstrkit_version"] == results["sstrkit_version"]
    with open_registry(private_server.app.state.settings.registry) as reg:
        run = reg.runs(patient_id=web_cohort.patient_ids[0], current_only=True)[0]
    assert d["content_sha256"] == run.content_sha256 and d["run_id"] == run.run_id
    keys = ("run_id", "cycle", "decision", "comment", "user_name", "user_role", "signed_at",
            "sstrkit_version", "content_sha256")  # fmt: skip
    fields = {k: d[k] for k in keys}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert d["record_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert d["intact"] is True
    assert no_cycle.status_code == 409 and as_physician.status_code == 403
    assert report.status_code == 200
    assert "script-src" not in report.headers["content-security-policy"]  # no scripts at all
    banner = _banner(report.text)
    assert _cell(banner, 1).startswith("approved|<b>approved</b> by phys (physicist)")
    assert f"on run {run_id}" in banner and "kidney VOIs on the kidneys" in banner
    assert _cell(banner, 2).startswith("pending|")
    # the report file itself is unchanged
    on_disk = (web_cohort.outs[web_cohort.patient_ids[0]] / "report" / "index.html").read_text()
    assert "sstrkit-review" not in on_disk
    assert report.text.replace(banner, "") == on_disk


def test_a_rejection_replaces_the_approval_and_the_list_counts_it(
    private_server: Server, run_id: int
) -> None:
    url = f"/api/runs/{run_id}/cycles/2/review"
    with private_server.login("phys") as c:
        c.post(url, json={"decision": "approved", "comment": "fine", "password": PASSWORD})
        c.post(url, json={"decision": "rejected", "comment": "liver VOI off", "password": PASSWORD})
        decisions = c.get(f"/api/runs/{run_id}/decisions").json()
        rows = c.get("/api/patients").json()["patients"]
        banner = _banner(c.get(f"/runs/{run_id}/report").text)
    assert [(x["decision"], x["state"]) for x in decisions] == [
        ("approved", "replaced"),
        ("rejected", "standing"),
    ]
    assert decisions[0]["replaced_by"] == decisions[1]["decision_id"]
    mine = next(r for r in rows if r["review"]["rejected"])
    assert mine["review"] == {"approved": 0, "rejected": 1, "pending": 1}
    assert _cell(banner, 2).startswith("rejected|") and "liver VOI off" in banner
    assert "replaced: <b>approved</b>" in banner


def test_a_newer_run_supersedes_the_approval(web_cohort: WebCohort, tmp_path: Path) -> None:
    pid = web_cohort.patient_ids[0]
    db = registry_copy(web_cohort, tmp_path)
    with serve(db, tmp_path) as s, s.login("phys") as c:
        old = c.get(f"/api/patients/{pid}").json()["studies"][0]["current_run_id"]
        body = {"decision": "approved", "comment": "ok", "password": PASSWORD}
        assert c.post(f"/api/runs/{old}/cycles/1/review", json=body).status_code == 201
        # the study is run again (here: the same results in a new folder, finished later)
        rerun = tmp_path / "rerun"
        shutil.copytree(web_cohort.outs[pid], rerun)
        later = (rerun / "results.json").stat().st_mtime + 3600
        os.utime(rerun / "results.json", (later, later))
        with open_registry(db) as reg:
            new = reg.add_run(rerun).run_id
        decisions = c.get(f"/api/runs/{old}/decisions").json()
        again = c.post(f"/api/runs/{old}/cycles/1/review", json=body)
        old_banner = _banner(c.get(f"/runs/{old}/report").text)
        new_banner = _banner(c.get(f"/runs/{new}/report").text)
        view = c.get(f"/api/runs/{new}").json()
        patient = c.get(f"/api/patients/{pid}").json()
    assert new != old
    assert [(x["state"], x["superseded_by_run"]) for x in decisions] == [("superseded", new)]
    assert again.status_code == 409 and f"review run {new}" in again.json()["detail"]
    assert _cell(old_banner, 1).startswith(f"superseded|superseded by run {new}; was <b>approved")
    assert _cell(new_banner, 1).startswith("pending|")
    assert [c["review"] for c in view["cycles"]] == [None, None]
    assert patient["cycles"][0]["review"] is None  # the current run's cycle is to review
    assert patient["decisions"][0]["state"] == "superseded"


def test_the_audit_trail_is_append_only(private_server: Server, run_id: int) -> None:
    body = {"decision": "approved", "comment": "ok", "password": PASSWORD}
    with private_server.login("phys") as c:
        assert c.post(f"/api/runs/{run_id}/cycles/1/review", json=body).status_code == 201
    engine = private_server.app.state.registry.engine
    for sql in ("UPDATE approvals SET decision = 'rejected'", "DELETE FROM approvals",
                "DELETE FROM runs"):  # fmt: skip
        with pytest.raises(DatabaseError), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT decision FROM approvals")).scalars().all() == ["approved"]


def test_a_record_edited_behind_sstrkits_back_shows_as_altered(
    private_server: Server, run_id: int
) -> None:
    body = {"decision": "approved", "comment": "ok", "password": PASSWORD}
    with private_server.login("phys") as c:
        c.post(f"/api/runs/{run_id}/cycles/1/review", json=body)
    engine = private_server.app.state.registry.engine
    with engine.begin() as conn:  # someone drops the trigger and edits the record
        conn.execute(text("DROP TRIGGER approvals_append_only_update"))
        conn.execute(text("UPDATE approvals SET comment = 'edited'"))
    with private_server.login("doc") as c:
        (d,) = c.get(f"/api/runs/{run_id}/decisions").json()
    assert d["comment"] == "edited" and d["intact"] is False


def test_wrong_signing_passwords_lock_the_signature(private_server: Server, run_id: int) -> None:
    url = f"/api/runs/{run_id}/cycles/1/review"
    body = {"decision": "approved", "comment": "ok", "password": "wrong password!"}
    with private_server.login("phys") as c:
        codes = [c.post(url, json=body).status_code for _ in range(6)]
        locked = c.post(url, json={**body, "password": PASSWORD})
    assert codes == [403] * 5 + [429]
    assert locked.status_code == 429
