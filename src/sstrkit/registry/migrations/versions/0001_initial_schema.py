"""Initial registry schema: patients, studies, runs and what each run recorded.

Revision ID: 0001
Revises:
Create Date: 2026-12-05

Written out (not generated at run time) so that the schema of a registry made by
this migration never changes with later versions of ``sstrkit.registry.schema``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: child tables of ``runs``, in creation order (dropped in reverse)
_RUN_CHILDREN = (
    "administrations",
    "readings",
    "reading_lesions",
    "region_doses",
    "lab_values",
    "response_assessments",
    "lesion_volumes",
    "lesion_uptake_changes",
    "survival",
    "run_files",
)


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _float(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(n, sa.Double(), nullable=True) for n in names]


def _text(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(n, sa.String(), nullable=True) for n in names]


def _run_child(table: str, *columns: sa.Column[object], one_per_run: bool = False) -> None:
    """A table of rows recorded by one run (``run_pk`` → runs.id, deleted with it)."""
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.id"], name=op.f(f"fk_{table}_run_pk_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    with op.batch_alter_table(table) as batch:
        batch.create_index(batch.f(f"ix_{table}_run_pk"), ["run_pk"], unique=one_per_run)


def _core_tables() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(), nullable=False),
        *_text("sex"),
        _time("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_patients_patient_id")),
    )
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_key", sa.String(), nullable=False),
        *_text("study_instance_uid"),
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        *_text("folder"),
        _time("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patients.id"],
            name=op.f("fk_studies_patient_pk_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("study_key", name=op.f("uq_studies_study_key")),
    )
    with op.batch_alter_table("studies") as batch:
        batch.create_index(batch.f("ix_studies_patient_pk"), ["patient_pk"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_pk", sa.Integer(), nullable=False),
        sa.Column("out_dir", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        *_text("sstrkit_version"),
        _time("finished_at", nullable=False),
        _time("recorded_at", nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        *_float("weight_g", "height_mm"),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("n_data_quality", sa.Integer(), nullable=False),
        *_float("kidney_bed_cumulative_gy", "marrow_dose_cumulative_gy"),
        sa.ForeignKeyConstraint(
            ["study_pk"], ["studies.id"], name=op.f("fk_runs_study_pk_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint(
            "study_pk",
            "out_dir",
            "content_sha256",
            name=op.f("uq_runs_study_pk_out_dir_content_sha256"),
        ),
    )
    with op.batch_alter_table("runs") as batch:
        batch.create_index(batch.f("ix_runs_study_pk"), ["study_pk"], unique=False)
        # at most one current run per study, on SQLite and PostgreSQL alike
        batch.create_index(
            "uq_runs_current_study",
            ["study_pk"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )


def _reading_and_dose_tables() -> None:
    _run_child(
        "administrations",
        sa.Column("cycle", sa.Integer(), nullable=True),
        _time("time"),
        sa.Column("activity_bq", sa.Double(), nullable=False),
        *_text("radiopharmaceutical", "nuclide", "source"),
    )
    _run_child(
        "readings",
        *_text("tracer"),
        sa.Column("krenning_patient", sa.Integer(), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=True),
        *_text("eligibility_status"),
        sa.Column("eligibility_missing", sa.JSON(), nullable=False),
        sa.Column("n_lesions", sa.Integer(), nullable=True),
        *_text("netpet_grade"),
        *_float("sstr_tumour_volume_ml", "total_tlse_suv_ml", "liver_suv_mean", "spleen_suv_mean"),
        one_per_run=True,
    )
    _run_child(
        "reading_lesions",
        sa.Column("lesion_id", sa.Integer(), nullable=False),
        *_text("organ"),
        *_float("suv_max", "suv_peak", "suv_mean", "volume_ml", "tlse_suv_ml"),
        sa.Column("krenning", sa.Integer(), nullable=True),
        *_float("x_mm", "y_mm", "z_mm"),
    )
    _run_child(
        "region_doses",
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        *_text("kind"),
        sa.Column("reading_lesion_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(), nullable=False),
        *_text("status", "method"),
        *_float("tia_bq_s", "tia_sd_bq_s", "dose_gy", "dose_sd_gy", "bed_gy"),
        sa.Column("bed_method", sa.Text(), nullable=True),
        *_float("t_eff_s", "mass_g", "volume_ml", "dose_max_gy", "d90_gy"),
    )


def _clinical_tables() -> None:
    _run_child(
        "lab_values",
        _time("time", nullable=False),
        sa.Column("before_cycle", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
    )
    _run_child(
        "response_assessments",
        _time("time"),
        *_float("since_first_cycle_s"),
        *_text("criteria"),
        sa.Column("response", sa.String(), nullable=False),
        *_text("source"),
    )
    _run_child(
        "lesion_volumes",
        sa.Column("lesion", sa.String(), nullable=False),
        _time("time"),
        *_float("since_first_cycle_s"),
        sa.Column("volume_ml", sa.Double(), nullable=False),
        *_text("source"),
    )
    _run_child(
        "lesion_uptake_changes",
        sa.Column("lesion", sa.String(), nullable=False),
        sa.Column("first_cycle", sa.Integer(), nullable=False),
        sa.Column("last_cycle", sa.Integer(), nullable=False),
        *_float("time_point_s", "uptake_first_bq", "uptake_last_bq", "change_pct"),
    )
    _run_child(
        "survival",
        *_float("pfs_s"),
        sa.Column("pfs_event", sa.Boolean(), nullable=True),
        *_float("os_s"),
        sa.Column("os_event", sa.Boolean(), nullable=True),
        *_text("source"),
        one_per_run=True,
    )
    _run_child(
        "run_files",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    )


def upgrade() -> None:
    _core_tables()
    _reading_and_dose_tables()
    _clinical_tables()


def downgrade() -> None:
    for table in reversed(_RUN_CHILDREN):
        op.drop_table(table)
    op.drop_table("runs")
    op.drop_table("studies")
    op.drop_table("patients")
