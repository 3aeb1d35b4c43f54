"""Preclinical and reporter-gene imaging: %ID/g quantification, ex-vivo biodistribution,
expression–uptake statistics and small-animal dosimetry (issue 10).

Modules
-------
``quantify``
    %ID/mL and %ID/g from PET/SPECT :class:`~sstrkit.core.volume.Volume` objects, regions
    (labels, spheres, thresholds), tumour-to-background ratios and their early→late change.
``biodist``
    Gamma-counter tubes (tissues, standards, background) → %ID/g per animal and summaries
    per group and time point.
``correlate``
    Pearson and Spearman correlations with confidence intervals, linear and log-transformed
    regression with diagnostics, and the reviewer's plots.
``dose``
    Organ time–activity curves → TIA (:mod:`sstrkit.therapy.kinetics`) → absorbed dose with
    sphere-model electron absorbed fractions (:mod:`sstrkit.therapy.sphere`), and human
    extrapolation by the %kg/g method.
``report``
    A short HTML report (:mod:`sstrkit.report.document`).
"""
