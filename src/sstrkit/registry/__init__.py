"""Patient registry: every ``sstrkit run`` of a department in one database.

SQLite by default (a file under the user's data folder), PostgreSQL by URL for
a department; the schema is created and upgraded by the Alembic migrations
shipped here. Re-running a study keeps its history (the latest run is current);
cohort questions read the current runs as pandas tables. See docs/registry.md.

Usage::

    from sstrkit.registry import open_registry

    with open_registry("sqlite:///prrt.sqlite") as reg:
        reg.add_run("out/patient-07")
        print([p.patient_id for p in reg.patients()])
        doses = reg.cohort_tables().region_doses

Modules: :mod:`~sstrkit.registry.schema` (tables), :mod:`~sstrkit.registry.db`
(URL, engine, migrations), :mod:`~sstrkit.registry.ingest` (a run folder → rows),
:mod:`~sstrkit.registry.clinical` (follow-up sections of clinical.json),
:mod:`~sstrkit.registry.store` (:class:`Registry`), :mod:`~sstrkit.registry.cohort`
(cohort tables and export), :mod:`~sstrkit.registry.records` (answers);
for the web review :mod:`~sstrkit.registry.review_schema` (accounts, sessions,
decisions, comments), :mod:`~sstrkit.registry.accounts` and
:mod:`~sstrkit.registry.approvals` (the append-only audit trail).
"""

from __future__ import annotations

# the web review's tables (review_schema) belong to the metadata wherever the registry is used
from sstrkit.registry import review_schema as _review_schema  # noqa: F401
from sstrkit.registry.cohort import CohortTables
from sstrkit.registry.db import default_url, resolve_url
from sstrkit.registry.ingest import RunData, read_run_folder
from sstrkit.registry.records import (
    PatientDetail,
    PatientSummary,
    RunRecord,
    RunSummary,
    StudyDetail,
)
from sstrkit.registry.store import Registry, open_registry

__all__ = [
    "CohortTables",
    "PatientDetail",
    "PatientSummary",
    "Registry",
    "RunData",
    "RunRecord",
    "RunSummary",
    "StudyDetail",
    "default_url",
    "open_registry",
    "read_run_folder",
    "resolve_url",
]
