"""SUV of a DICOM PET series: read the series, compute SUVbw (QIBA) and summarise it.

Without an argument a small digital NET patient (8 mm voxels, one cycle) is written to a
temporary folder first and its 68Ga-DOTATATE PET is used; pass your own PET DICOM folder
to use that instead::

    python examples/suv_of_a_dicom_series.py [PET_DICOM_DIR]
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import sstrkit


def main(pet_dir: Path) -> None:
    series = sstrkit.read_series(pet_dir, modalities=("PT", "NM"))
    print(f"{series.modality} series, units {series.units}, shape {series.volume.shape}")
    result = sstrkit.compute_suv(series, "bw")  # also "lbm", "bsa", "ibw"...
    assert result.suv is not None
    suv = result.suv.array
    print(f"SUV factor {result.suv_factor:.3g} (g/mL)/(Bq/mL), reference {result.reference_time}")
    print(f"SUVbw: max {suv.max():.1f}, 99th percentile {np.percentile(suv, 99):.1f}")
    for warning in result.warnings:
        print("warning:", warning)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            config = sstrkit.StudyConfig(voxel_mm=8.0, cycles=1, timepoints_h=(24.0,), fdg=False)
            sstrkit.make_study(Path(tmp) / "study", config)
            main(Path(tmp) / "study" / "dicom" / "pet_dotatate")
