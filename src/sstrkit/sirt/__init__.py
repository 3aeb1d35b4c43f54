"""SIRT: selective internal radiation therapy with 90Y microspheres (resin or glass).

Planning from a 99mTc-MAA work-up (``docs/sirt.md``, "Planning"):

* :mod:`sstrkit.sirt.physics` — 90Y energy per GBq over complete decay (ICRP 107),
  mean absorbed dose of a permanent implant;
* :mod:`sstrkit.sirt.plan_shunt` — lung shunt fraction, planar conjugate view and
  SPECT/CT; automatic planar ROIs;
* :mod:`sstrkit.sirt.plan_uptake` — tumour-to-normal-liver ratio, automatic tumour
  VOIs on the MAA SPECT, masses; :mod:`sstrkit.sirt.plan_tn_pvc` — the GTM
  partial-volume-corrected T/N beside it; :mod:`sstrkit.sirt.plan_tn` — which T/N plans
  (measured by default, ``tn_source="pvc"`` on request);
* :mod:`sstrkit.sirt.perfused_liver` — the automatic liver VOI of MAA and 90Y scans: the
  perfused liver (half the scan's perfused level);
* :mod:`sstrkit.sirt.plan_limits` — cited lung and liver limits, dose targets, the
  resin lung-shunt bands;
* :mod:`sstrkit.sirt.plan_methods` — partition model, resin BSA method, single
  compartment (MIRD);
* :mod:`sstrkit.sirt.plan_inputs` — the typed MAA inputs and their measurement
  (:func:`~sstrkit.sirt.plan_inputs.measure_maa`);
* :mod:`sstrkit.sirt.planning` — :func:`~sstrkit.sirt.planning.plan_sirt` →
  :class:`~sstrkit.sirt.planning.SirtPlan`.
* :mod:`sstrkit.sirt.plan_vois` — automatic lung VOI from the MAA CT.

A study folder is read by :func:`sstrkit.pipeline.sirt_inputs.load_maa_inputs`. The
post-implant 90Y dosimetry and the combined liver dose are the package's other modules
(``docs/sirt.md``).
"""

from __future__ import annotations
