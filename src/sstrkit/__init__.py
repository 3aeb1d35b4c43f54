"""sstrkit: somatostatin-receptor theranostics toolkit.

The package follows the clinical workflow: import (``io``) → read SSTR imaging
(``reading``) → plan and dose PRRT (``therapy``) → follow up (``followup``) →
report (``report``); ``core`` holds the image model, units and provenance, and
``physics`` the nuclear data.
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
