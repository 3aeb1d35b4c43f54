"""Cohorts of PRRT patients: runs on Dask distributed, analytics and the cohort report.

* :mod:`sstrkit.cohort.tasks` — the work units (one study's cycle dosimetry, one study's run);
* :mod:`sstrkit.cohort.runner` — :func:`run_cohort` on a LocalCluster, a remote scheduler or
  serially, with failures isolated per study and finished studies reused;
* :mod:`sstrkit.cohort.data` — the registry's cohort tables as the analyses need them;
* :mod:`sstrkit.cohort.analytics` — dose–response, kidney BED vs eGFR, marrow dose vs
  platelets, survival by dose group, response rates (typed, frozen results);
* :mod:`sstrkit.cohort.report` — the cohort HTML report.
"""
