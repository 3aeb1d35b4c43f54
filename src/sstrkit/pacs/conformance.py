"""What the PACS link accepts and sends: SOP classes and transfer syntaxes (conformance).

One table for the code and the documentation (``docs/pacs.md``, "Conformance"):

* the listener (``sstrkit pacs listen``, Storage SCP) accepts Verification and the
  storage SOP classes of what the intake reads (:data:`SCP_STORAGE`: CT, PET, NM,
  Segmentation), in the uncompressed transfer syntaxes and RLE Lossless
  (:data:`SCP_TRANSFER_SYNTAXES`), which pydicom decodes without extra codecs; a
  sender with compressed images transcodes (Orthanc and dcmtk do);
* ``sstrkit pacs send`` (Storage SCU) sends the result objects (:data:`SENT`) in the
  transfer syntax they are written in, Explicit VR Little Endian, and offers
  Implicit VR Little Endian as well (:data:`SCU_TRANSFER_SYNTAXES`);
* ``sstrkit pacs query`` / ``retrieve`` use the Study Root information model
  (:data:`QUERY_RETRIEVE`); C-GET asks for the SCP role of :data:`GET_STORAGE`.

Examples
--------
>>> SOP_NAMES[SCP_STORAGE[1]]
'Positron Emission Tomography Image Storage'
>>> sorted(conformance_summary())
['listener', 'query_retrieve', 'sender']
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CT_STORAGE",
    "ENCAPSULATED_PDF_STORAGE",
    "EXPORT_MODEL_NAME",
    "GET_STORAGE",
    "IMPLEMENTATION_CLASS_UID",
    "LISTENER_MAX_PDU",
    "NM_STORAGE",
    "PET_STORAGE",
    "QUERY_RETRIEVE",
    "RTDOSE_STORAGE",
    "RTSTRUCT_STORAGE",
    "SCP_STORAGE",
    "SCP_TRANSFER_SYNTAXES",
    "SCU_TRANSFER_SYNTAXES",
    "SEG_STORAGE",
    "SENT",
    "SOP_NAMES",
    "SR_3D_STORAGE",
    "VERIFICATION",
    "conformance_summary",
]

VERIFICATION: Final = "1.2.840.10008.1.1"
CT_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.128"
NM_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.20"
SEG_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.66.4"
RTDOSE_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.481.2"
RTSTRUCT_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.481.3"
SR_3D_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.88.34"
ENCAPSULATED_PDF_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.104.1"
STUDY_ROOT_FIND: Final = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE: Final = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET: Final = "1.2.840.10008.5.1.4.1.2.2.3"

IMPLICIT_LE: Final = "1.2.840.10008.1.2"
EXPLICIT_LE: Final = "1.2.840.10008.1.2.1"
DEFLATED_LE: Final = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE: Final = "1.2.840.10008.1.2.2"
RLE_LOSSLESS: Final = "1.2.840.10008.1.2.5"

#: Storage SOP classes the listener accepts: the images and segmentations the intake reads.
SCP_STORAGE: Final[tuple[str, ...]] = (CT_STORAGE, PET_STORAGE, NM_STORAGE, SEG_STORAGE)
#: Transfer syntaxes the listener accepts (stored as received).
SCP_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (
    EXPLICIT_LE,
    IMPLICIT_LE,
    DEFLATED_LE,
    EXPLICIT_BE,
    RLE_LOSSLESS,
)
#: Result objects ``sstrkit pacs send`` sends (SOP class → what it holds).
SENT: Final[dict[str, str]] = {
    RTDOSE_STORAGE: "absorbed dose per cycle on the SPECT/CT grid",
    SEG_STORAGE: "lesions (SSTR PET) and the dosimetry VOIs of each cycle",
    SR_3D_STORAGE: "TID 1500 measurement report: lesion SUVs, region TIA, doses, BED",
    ENCAPSULATED_PDF_STORAGE: "the report (PDF)",
    PET_STORAGE: "derived SUVbw series of the SSTR PET",
    RTSTRUCT_STORAGE: "lesion contours (SSTR PET)",
}
#: Transfer syntaxes ``send`` offers for every object (written as Explicit VR Little Endian).
SCU_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (EXPLICIT_LE, IMPLICIT_LE)
#: Query/retrieve information models (Study Root).
QUERY_RETRIEVE: Final[dict[str, str]] = {
    "C-FIND": STUDY_ROOT_FIND,
    "C-MOVE": STUDY_ROOT_MOVE,
    "C-GET": STUDY_ROOT_GET,
}
#: SOP classes C-GET asks the SCP role for (images to run on, and results to read back).
GET_STORAGE: Final[tuple[str, ...]] = (*SCP_STORAGE, *(k for k in SENT if k not in SCP_STORAGE))

#: ManufacturerModelName of every object ``pacs send`` writes; the listener does not file
#: instances carrying it (sstrkit's own results routed back by a PACS), nor derived images
#: whose DerivationDescription starts with "sstrkit".
EXPORT_MODEL_NAME: Final = "sstrkit results"

#: ImplementationClassUID of the listener's associations and of the files it writes: a
#: UID under pydicom's root, ``generate_uid(entropy_srcs=["sstrkit DICOM upper layer"])``
#: (fixed, so that it identifies sstrkit across versions; PS3.7 D.3.3.2).
IMPLEMENTATION_CLASS_UID: Final = "1.2.826.0.1.3680043.8.498.64588113800045736191157315494364561315"
#: Largest P-DATA-TF the listener receives (announced as its maximum PDU length, PS3.8 D.1):
#: 128 KiB, the largest dcmtk's tools use (ASC_MAXIMUMPDUSIZE).
LISTENER_MAX_PDU: Final = 131072

SOP_NAMES: Final[dict[str, str]] = {
    VERIFICATION: "Verification",
    CT_STORAGE: "CT Image Storage",
    PET_STORAGE: "Positron Emission Tomography Image Storage",
    NM_STORAGE: "Nuclear Medicine Image Storage",
    SEG_STORAGE: "Segmentation Storage",
    RTDOSE_STORAGE: "RT Dose Storage",
    RTSTRUCT_STORAGE: "RT Structure Set Storage",
    SR_3D_STORAGE: "Comprehensive 3D SR Storage",
    ENCAPSULATED_PDF_STORAGE: "Encapsulated PDF Storage",
    STUDY_ROOT_FIND: "Study Root Query/Retrieve Information Model - FIND",
    STUDY_ROOT_MOVE: "Study Root Query/Retrieve Information Model - MOVE",
    STUDY_ROOT_GET: "Study Root Query/Retrieve Information Model - GET",
    IMPLICIT_LE: "Implicit VR Little Endian",
    EXPLICIT_LE: "Explicit VR Little Endian",
    DEFLATED_LE: "Deflated Explicit VR Little Endian",
    EXPLICIT_BE: "Explicit VR Big Endian",
    RLE_LOSSLESS: "RLE Lossless",
}


def _named(uids: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    return [{"uid": u, "name": SOP_NAMES[u]} for u in uids]


def conformance_summary() -> dict[str, object]:
    """The conformance table as one JSON-able document (roles, SOP classes, syntaxes)."""
    return {
        "listener": {
            "role": "SCP",
            "sop_classes": _named([VERIFICATION, *SCP_STORAGE]),
            "transfer_syntaxes": _named(SCP_TRANSFER_SYNTAXES),
        },
        "sender": {
            "role": "SCU",
            "sop_classes": [
                {"uid": u, "name": SOP_NAMES[u], "holds": what} for u, what in SENT.items()
            ],
            "transfer_syntaxes": _named(SCU_TRANSFER_SYNTAXES),
        },
        "query_retrieve": {
            "role": "SCU",
            "sop_classes": _named(list(QUERY_RETRIEVE.values())),
            "c_get_storage_scp_role": _named(GET_STORAGE),
        },
    }
