"""PACS link: receive studies, run automatically, send standard DICOM results back.

Modules, in the order a study travels through them:

- :mod:`~sstrkit.pacs.network`: ``AE@HOST:PORT`` peers, AE titles, DICOM TLS contexts;
- :mod:`~sstrkit.pacs.conformance`: SOP classes and transfer syntaxes accepted and sent;
- :mod:`~sstrkit.pacs.store`: the store (patient/study/series, atomic, one copy per
  SOPInstanceUID);
- :mod:`~sstrkit.pacs.scp`: the listener (C-ECHO/C-STORE SCP, calling-AE filter, TLS)
  and study completion by inactivity;
- :mod:`~sstrkit.pacs.jobs`: a completed study → the patient's studies sorted by the
  intake → the main job run (again) when a cycle or time point is new → registry → send;
- :mod:`~sstrkit.pacs.scu`: C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE against a PACS;
- :mod:`~sstrkit.pacs.dicomweb`: QIDO-RS, WADO-RS, STOW-RS (dicomweb-client);
- :mod:`~sstrkit.pacs.run_folder`: a finished run folder as the export reads it;
- :mod:`~sstrkit.pacs.segments`: lesions and dosimetry VOIs as DICOM SEG (highdicom);
- :mod:`~sstrkit.pacs.sr_values` → :mod:`~sstrkit.pacs.sr`: results.json's lesion SUVs,
  region TIA, doses and BED as a TID 1500 Structured Report (highdicom);
- :mod:`~sstrkit.pacs.pdf`: the HTML report as an Encapsulated PDF (WeasyPrint);
- :mod:`~sstrkit.pacs.export`: all result objects of a run, linked to their studies.

The command line is ``sstrkit pacs listen|query|retrieve|send`` (:mod:`sstrkit.cli.pacs`);
docs/pacs.md has the conformance summary and a setup recipe with Orthanc.
"""

from __future__ import annotations

__all__: list[str] = []
