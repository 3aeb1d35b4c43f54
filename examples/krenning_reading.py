"""Krenning reading of an SSTR PET/CT, with the organs segmented automatically from the CT.

The PET is converted to SUVbw, liver and spleen are found on the CT (no label map given),
lesions are segmented and graded against the liver and spleen (PET-adapted Krenning
score), and the PRRT eligibility rules are applied. Without arguments a small digital
NET patient is made first::

    python examples/krenning_reading.py [PET_DICOM_DIR CT_DICOM_DIR]
"""

import sys
import tempfile
from pathlib import Path

import sstrkit


def main(pet_dir: Path, ct_dir: Path) -> None:
    suv = sstrkit.compute_suv(sstrkit.read_series(pet_dir, modalities=("PT",))).suv
    ct = sstrkit.read_series(ct_dir, modalities=("CT",)).volume
    assert suv is not None
    reading = sstrkit.read_sstr_pet(suv, ct=ct)  # auto_organs=True: organs from the CT
    liver, spleen = reading.references.liver_mean, reading.references.spleen_mean
    print(f"organs: {reading.organs_source}")
    print(
        f"reference SUVmean: liver {liver or float('nan'):.1f}, spleen {spleen or float('nan'):.1f}"
    )
    for lesion in reading.lesions[:5]:
        print(
            f"lesion {lesion.id} ({lesion.organ}): SUVmax {lesion.suv_max:.1f}, "
            f"{lesion.volume_ml:.1f} mL, Krenning {lesion.krenning}"
        )
    print(f"{len(reading.lesions)} lesions, patient Krenning score {reading.krenning_patient}")
    print(f"PRRT eligibility: {reading.eligibility.status}")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        main(Path(sys.argv[1]), Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            config = sstrkit.StudyConfig(voxel_mm=8.0, cycles=1, timepoints_h=(24.0,), fdg=False)
            sstrkit.make_study(Path(tmp) / "study", config)
            dicom = Path(tmp) / "study" / "dicom"
            main(dicom / "pet_dotatate", dicom / "pet_dotatate_ct")
