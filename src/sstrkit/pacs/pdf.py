"""The HTML report as PDF (WeasyPrint), wrapped as a DICOM Encapsulated PDF instance.

:func:`render_pdf` renders ``OUT/report/index.html`` (self-contained: images are
embedded) with WeasyPrint; only ``data:`` and ``file:`` URLs are fetched, never the
network. :func:`encapsulated_pdf` builds the Encapsulated PDF IOD (PS3.3 A.45.1):
Patient and General Study copied from the source header (the study the report
belongs to), Encapsulated Document Series (Modality DOC), General and SC Equipment
(conversion type WSD), Encapsulated Document (MIME type ``application/pdf``, the
document padded to even length with one NUL byte as PS3.3 C.24.2.1 requires, its
length without the padding in EncapsulatedDocumentLength) and SOP Common.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from sstrkit import __version__
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_modules import PATIENT_STUDY_KEYWORDS, copy_from_source
from sstrkit.io.dicom_time import format_da, format_tm
from sstrkit.pacs.conformance import ENCAPSULATED_PDF_STORAGE, EXPORT_MODEL_NAME

__all__ = ["DOCUMENT_TITLE", "encapsulated_pdf", "pdf_bytes", "render_pdf"]

DOCUMENT_TITLE = "sstrkit theranostic report"


def render_pdf(html: Path) -> bytes:
    """The PDF of the HTML file ``html`` (local resources only)."""
    import weasyprint  # type: ignore[import-untyped,unused-ignore]

    if not html.is_file():
        raise InvalidInputError(
            "report of the run",
            expected=f"the HTML report {html}",
            actual="no such file",
            fix="run 'sstrkit run' with the report (without --no-report)",
        )
    fetcher_cls = getattr(weasyprint, "URLFetcher", None)
    kwargs: dict[str, Any] = {}
    if fetcher_cls is not None:  # WeasyPrint >= 68: refuse http(s) and other protocols
        kwargs["url_fetcher"] = fetcher_cls(allowed_protocols=("data", "file"))
    document = weasyprint.HTML(filename=str(html), base_url=str(html.parent), **kwargs)
    pdf = document.write_pdf()
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
        raise InvalidInputError(
            "PDF of the report", expected="a PDF document", actual="WeasyPrint returned none"
        )
    return pdf


def encapsulated_pdf(
    pdf: bytes,
    source: Dataset,
    *,
    uids: tuple[str, str],
    series_number: int = 905,
    when: _dt.datetime | None = None,
    title: str = DOCUMENT_TITLE,
) -> Dataset:
    """An Encapsulated PDF instance of ``pdf`` in the patient and study of ``source``."""
    now = when or _dt.datetime.now(_dt.UTC).astimezone()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(uids[1])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UID(ENCAPSULATED_PDF_STORAGE)
    ds.SOPInstanceUID = UID(uids[1])
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate, ds.InstanceCreationTime = format_da(now), format_tm(now)
    for keyword in PATIENT_STUDY_KEYWORDS:  # Type 2: present even when the source lacks it
        setattr(ds, keyword, "")
    copy_from_source(ds, source, PATIENT_STUDY_KEYWORDS)
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = UID(uids[0])
    ds.SeriesNumber = series_number
    ds.SeriesDescription = title[:64]
    ds.Manufacturer = "sstrkit"
    ds.ManufacturerModelName = EXPORT_MODEL_NAME
    ds.SoftwareVersions = __version__
    ds.ConversionType = "WSD"
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = format_da(now), format_tm(now)
    ds.AcquisitionDateTime = format_da(now) + format_tm(now)
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return ds


def pdf_bytes(ds: Dataset) -> bytes:
    """The PDF of an Encapsulated PDF instance, without its padding."""
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length is not None else data
