"""DICOMweb transport (dicomweb-client): QIDO-RS query, WADO-RS retrieve, STOW-RS store.

The alternative to DIMSE for PACSs that offer a DICOMweb root URL (Orthanc with
its DICOMweb plugin: ``http://HOST:8042/dicom-web``). :func:`qido` answers like
:func:`sstrkit.pacs.scu.find` (same keys), :func:`wado_retrieve` files the
instances into an :class:`~sstrkit.pacs.store.InstanceStore` (same layout and
deduplication as the listener), :func:`stow` sends files in batches. HTTP and
connection failures are :class:`~sstrkit.errors.InvalidInputError` naming the URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pydicom
from pydicom.dataset import Dataset

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.scu import (
    SERIES_FIELDS,
    STUDY_FIELDS,
    SendReport,
    TransferReport,
    attribute_value,
)
from sstrkit.pacs.store import InstanceStore, is_own_result

__all__ = ["qido", "stow", "wado_retrieve"]

#: Files per STOW-RS request.
STOW_BATCH = 64


def _client(url: str) -> Any:
    from dicomweb_client.api import DICOMwebClient

    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            "--dicomweb", expected="an http(s) URL of the DICOMweb root", actual=repr(url)
        )
    return DICOMwebClient(url.rstrip("/"), timeout=60)


@contextlib.contextmanager
def _http(url: str, what: str) -> Iterator[None]:
    import requests

    try:
        yield
    except requests.exceptions.RequestException as exc:
        raise InvalidInputError(
            what,
            expected=f"a DICOMweb server answering at {url}",
            actual=" ".join(str(exc).split())[:300],
            fix="check the URL (the DICOMweb root, e.g. http://HOST:8042/dicom-web), "
            "that the server runs and, for STOW-RS, that it accepts these objects",
        ) from None


def qido(
    url: str,
    *,
    patient_id: str | None = None,
    patient_name: str | None = None,
    study_date: str | None = None,
    modality: str | None = None,
    study_uid: str | None = None,
    level: Literal["STUDY", "SERIES"] = "STUDY",
) -> list[dict[str, Any]]:
    """QIDO-RS search for studies (or the series of ``study_uid``)."""
    if level == "SERIES" and not study_uid:
        raise InvalidInputError(
            "--level series", expected="a --study-uid to list the series of", actual="none"
        )
    client = _client(url)
    fields = STUDY_FIELDS if level == "STUDY" else SERIES_FIELDS
    filters: dict[str, Any] = {}
    for keyword, value in (
        ("PatientID", patient_id),
        ("PatientName", patient_name),
        ("StudyDate", study_date),
    ):
        if value and level == "STUDY":
            filters[keyword] = value
    if modality:
        filters["ModalitiesInStudy" if level == "STUDY" else "Modality"] = modality
    with _http(url, "QIDO-RS"):
        if level == "STUDY":
            if study_uid:
                filters["StudyInstanceUID"] = study_uid
            found = client.search_for_studies(
                fields=list(fields), search_filters=filters, get_remaining=True
            )
        else:
            found = client.search_for_series(
                study_instance_uid=study_uid,
                fields=list(fields),
                search_filters=filters,
                get_remaining=True,
            )
    rows = []
    for doc in found:
        ds = Dataset.from_json(doc)
        row = {k: attribute_value(ds.get(kw)) for kw, k in fields.items()}
        if isinstance(row.get("modalities"), str):
            row["modalities"] = [row["modalities"]]
        rows.append(row)
    return rows


def wado_retrieve(
    url: str,
    store: InstanceStore,
    studies: Sequence[tuple[str, str | None]],
    *,
    own_results: bool = False,
) -> TransferReport:
    """WADO-RS retrieve of each (study UID, series UID or None) into ``store`` (sstrkit's
    own results only with ``own_results``)."""
    client = _client(url)
    report = TransferReport("WADO-RS", store=str(store.root))
    with _http(url, "WADO-RS"):
        for study_uid, series_uid in studies:
            if series_uid:
                datasets = client.retrieve_series(study_uid, series_uid)
            else:
                datasets = client.iter_study(study_uid)
            for ds in datasets:
                report.completed += 1
                if not own_results and is_own_result(ds):
                    report.ignored += 1
                    continue
                item = store.put(ds)
                if item.status == "stored":
                    report.stored += 1
                else:
                    report.duplicates += 1
            report.studies.append(study_uid)
    return report


def stow(url: str, files: Sequence[Path]) -> SendReport:
    """STOW-RS ``files`` in batches; failed instances listed (FailedSOPSequence)."""
    if not files:
        raise InvalidInputError("files to send", expected="at least one DICOM file", actual="none")
    client = _client(url)
    report = SendReport(url)
    for start in range(0, len(files), STOW_BATCH):
        batch = [pydicom.dcmread(f) for f in files[start : start + STOW_BATCH]]
        by_uid = {str(ds.SOPInstanceUID): f for ds, f in zip(batch, files[start:], strict=False)}
        with _http(url, "STOW-RS"):
            answer = client.store_instances(batch)
        failed = answer.get("FailedSOPSequence", []) if answer is not None else []
        for item in failed:
            uid = str(item.get("ReferencedSOPInstanceUID", ""))
            reason = int(item.get("FailureReason", 0) or 0)
            report.failed.append({"file": str(by_uid.get(uid, uid)), "status": f"0x{reason:04X}"})
        report.sent += len(batch) - len(failed)
    return report
