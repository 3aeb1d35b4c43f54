"""Accuracy of the offline organ segmentation against the digital patient's truth.

Reference values: the phantom's truth label maps (``truth/labels_*.nii.gz``), brought onto
each CT grid by nearest neighbour and, for a repositioned SPECT/CT session, through the
true rigid motion recorded in ``truth.json``. Acceptance of the issue "Organs and
physiological uptake without hand-made labels": Dice >= 0.85 for liver, spleen and
kidneys on CT-grid labels, on several seeds with repositioning and on an anatomy that
is not the simulator's own (ORNL/MIRD stylized adult layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.organs.model import OrganSegmentation
from sstrkit.organs.segment import segment_organs
from sstrkit.phantom.study import StudyConfig, make_study

#: Truth label names of each class (cortex + medulla make a kidney).
TRUTH_PARTS = {
    "liver": ("liver",),
    "spleen": ("spleen",),
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
}
DICE_MIN = 0.85  # the acceptance


def _study(root: Path, seed: int, **kw: Any) -> Path:
    out = root / f"seed{seed}_{kw.get('anatomy', 'sstrkit')}"
    if not (out / "manifest.json").is_file():
        cfg = StudyConfig(seed=seed, cycles=1, timepoints_h=(24.0,), fdg=False, voxel_mm=2.0, **kw)
        make_study(out, cfg)
    return out


def _truth_on(
    ct: Volume, root: Path, motion: dict[str, Any] | None
) -> tuple[np.ndarray, dict[str, int]]:
    truth = read_nifti(root / "truth" / "labels_baseline.nii.gz")
    names = json.loads((root / "truth" / "labels_baseline.json").read_text())["labels"]
    inv = {v: int(k) for k, v in names.items()}
    img = truth.to_sitk()
    tx = sitk.AffineTransform(3)
    if motion is not None:  # CT (session) point -> baseline point
        m = np.asarray(motion["matrix_session_to_baseline"], dtype=float)
        tx.SetMatrix([float(v) for v in m[:3, :3].ravel()])
        tx.SetTranslation([float(v) for v in m[:3, 3]])
    out = sitk.Resample(img, ct.to_sitk(), tx, sitk.sitkNearestNeighbor, 0, img.GetPixelID())
    return sitk.GetArrayFromImage(out), inv


def _dice(seg: OrganSegmentation, truth: np.ndarray, inv: dict[str, int]) -> dict[str, float]:
    out = {}
    for organ, parts in TRUTH_PARTS.items():
        t = np.isin(truth, [inv[p] for p in parts])
        s = seg.mask(organ)
        out[organ] = float(2 * (t & s).sum() / max(int(t.sum() + s.sum()), 1))
    return out


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("organ_studies")


@pytest.mark.parametrize("seed", [7, 3, 11])
def test_pet_ct_dice(studies: Path, seed: int) -> None:
    root = _study(studies, seed)
    ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    seg = segment_organs(ct, pet)
    truth, inv = _truth_on(ct, root, None)
    dice = _dice(seg, truth, inv)
    assert min(dice.values()) >= DICE_MIN, dice
    for organ in TRUTH_PARTS:
        assert seg.organ(organ).status == "plausible"
    # the bladder is the pelvic one, not a hot midline node below the pancreas (seen on
    # seed 11 before the bladder window was bounded at 260 mm below the lung bases)
    bladder = seg.organ("urinary_bladder")
    kidneys_z = min(seg.organ(k).centroid_mm[2] for k in ("kidney_left", "kidney_right"))  # type: ignore[index]
    assert bladder.status == "plausible" and bladder.centroid_mm is not None
    assert bladder.centroid_mm[2] < kidneys_z - 150.0


@pytest.mark.parametrize("seed", [7, 11])
def test_repositioned_spect_ct_dice(studies: Path, seed: int) -> None:
    root = _study(studies, seed)
    man = json.loads((root / "manifest.json").read_text())
    tp = man["series"]["spect"][0]
    ct_entry = man["series"]["spect_ct"][0]
    ct = read_series(root / ct_entry["path"]).volume
    spect = read_series(root / tp["path"]).volume
    truth_json = json.loads((root / "truth" / "truth.json").read_text())
    motion = next(
        p
        for p in truth_json["positioning"]
        if ct_entry["series_uid"] in p["series_uids"] or tp["series_uid"] in p["series_uids"]
    )
    assert not motion["baseline"]  # the SPECT/CT session was repositioned
    seg = segment_organs(ct, spect)
    truth, inv = _truth_on(ct, root, motion)
    dice = _dice(seg, truth, inv)
    assert min(dice.values()) >= DICE_MIN, dice


def test_stylized_anatomy_dice(studies: Path) -> None:
    """An anatomy that is not the simulator's own: ORNL/MIRD stylized adult layout."""
    root = _study(studies, 5, anatomy="ornl-stylized")
    ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    seg = segment_organs(ct, pet)
    truth, inv = _truth_on(ct, root, None)
    dice = _dice(seg, truth, inv)
    assert min(dice.values()) >= DICE_MIN, dice


def test_deterministic_and_on_the_ct_grid(studies: Path) -> None:
    root = _study(studies, 7)
    ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    a = segment_organs(ct, pet)
    b = segment_organs(ct, pet)
    assert a.labels.same_space(ct)
    assert np.array_equal(a.labels.array, b.labels.array)
    assert a.label_json()["1"] == "liver"


def test_red_marrow_voi_is_lumbar_spongiosa(studies: Path) -> None:
    """The marrow VOI lies in the vertebral spongiosa, centred at L3 (L2-L4).

    Reference: the phantom's truth labels (``spongiosa``) and its vertebral centres
    (``AnatomyModel.vertebrae``). Tolerances: >= 80 % of the VOI in true spongiosa (the
    VOI is eroded 3 mm inside the bone, so only partial volume at 2 x 2 x 4 mm voxels
    puts VOI voxels outside); centroid within half a lumbar level (18 mm) of L3.
    """
    from sstrkit.phantom.anatomy import PatientSpec, build_anatomy

    root = _study(studies, 7)
    ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    seg = segment_organs(ct, pet)
    voi = seg.mask("red_marrow_lumbar")
    truth, inv = _truth_on(ct, root, None)
    assert voi.sum() > 0
    assert float((truth[voi] == inv["spongiosa"]).mean()) >= 0.8
    model = build_anatomy(PatientSpec("M", seed=7).resolved(), voxel_mm=8.0, lesions=False)
    z_l3 = model.vertebrae["L3"][2]
    z_voi = float(ct.index_to_physical(np.argwhere(voi).mean(axis=0)[::-1])[2])
    assert abs(z_voi - z_l3) <= 18.0, (z_voi, z_l3)


def test_splenectomy_spleen_absent_others_kept(studies: Path) -> None:
    """After splenectomy the spleen is 'absent' (no dose for it) and nothing takes its name.

    The spleen of seed 7 is removed from the images: its CT voxels (dilated 2 voxels)
    become fat (-95 HU, the visceral-fat mean of the phantom's table) and its PET voxels
    the median soft-tissue uptake. Reference: the truth labels of the other organs.
    """
    from scipy import ndimage

    root = _study(studies, 7)
    ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    truth, inv = _truth_on(ct, root, None)
    spleen = ndimage.binary_dilation(truth == inv["spleen"], iterations=2)
    hu = np.array(ct.array, dtype=np.float32)
    hu[spleen] = -95.0
    ct2 = ct.with_array(hu, operation="test_splenectomy")
    spleen_pet = ct2.with_array(spleen.astype(np.uint8), operation="mask").resample_to(
        pet, mode="nearest"
    )
    pv = np.array(pet.array, dtype=np.float32)
    sel = ndimage.binary_dilation(spleen_pet.array > 0, iterations=2)
    pv[sel] = float(np.median(pv[pv > 0]))
    pet2 = pet.with_array(pv, operation="test_splenectomy")
    seg = segment_organs(ct2, pet2)
    assert seg.organ("spleen").status == "absent"
    dice = _dice(seg, truth, inv)
    for organ in ("liver", "kidney_left", "kidney_right"):
        assert dice[organ] >= DICE_MIN, dice


def test_stylized_anatomy_repositioned_spect_dice(studies: Path) -> None:
    """The other anatomy's SPECT/CT (thin 3 cm stylized kidneys at 11 mm FWHM, the hardest
    case measured: 0.872-0.960 over seeds 7, 3, 11)."""
    root = _study(studies, 7, anatomy="ornl-stylized")
    man = json.loads((root / "manifest.json").read_text())
    tp = man["series"]["spect"][0]
    ct_entry = man["series"]["spect_ct"][0]
    ct = read_series(root / ct_entry["path"]).volume
    spect = read_series(root / tp["path"]).volume
    truth_json = json.loads((root / "truth" / "truth.json").read_text())
    motion = next(
        p for p in truth_json["positioning"] if ct_entry["series_uid"] in p["series_uids"]
    )
    seg = segment_organs(ct, spect)
    truth, inv = _truth_on(ct, root, motion)
    dice = _dice(seg, truth, inv)
    assert min(dice.values()) >= DICE_MIN, dice
