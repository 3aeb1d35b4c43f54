"""Automatic lung VOI for SIRT planning from the (low-dose) CT of a MAA SPECT/CT.

The lung dose of the partition model needs the lung activity (mean concentration ×
lung volume) and the lung mass (CT densitometry), so the lung VOI must hold the whole
lung parenchyma in the field of view — also where the field of view cuts the chest,
which a body-outline-based segmentation reads as outside air. :func:`lungs_from_ct`
therefore works on the CT numbers alone:

1. lung parenchyma: voxels in the HU window [:data:`LUNG_HU_WINDOW`] = [−950, −400] —
   above −950 HU to leave out air (outside the body, trachea, bowel gas: about
   −1000 HU; −950 HU is also the usual emphysema threshold, Gevenois PA et al., Am J
   Respir Crit Care Med 1996;154:187-192), below −400 HU to leave out soft tissue
   (aerated lung parenchyma: −850 to −910 HU in inspiration, Prokop M, Spiral and
   Multislice CT of the Body, 2003);
2. a morphological opening (3 × 3 × 3 voxels) removes the one-voxel partial-volume shells
   between air and soft tissue (skin, bowel wall) that fall into the same window;
3. the connected regions of at least :data:`MIN_LUNG_ML` are kept (each lung; a
   chest cut by the field of view may leave one region per lung or one in all);
4. holes are filled in each axial slice (vessels and airways inside the lungs, and
   emphysema below −950 HU enclosed by parenchyma).

No contrast, breathing motion or pathology (consolidation, effusion, atelectasis,
above −400 HU) is modelled: such lung is left out of the VOI (its activity is still
estimated through the mean lung concentration, its mass is not: the lung dose is then
overestimated, the safe side). The VOI is flagged as automatic.

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> hu = np.full((12, 20, 20), -1000.0); hu[1:11, 2:18, 2:18] = 40.0
>>> hu[2:10, 4:16, 4:9] = -820.0; hu[2:10, 4:16, 11:16] = -820.0
>>> ct = Volume.from_array(hu, spacing=(10.0, 10.0, 10.0), unit="HU", modality="CT")
>>> int(lungs_from_ct(ct).sum()) == 2 * 8 * 12 * 5
True
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError

__all__ = ["LUNG_HU_WINDOW", "MIN_LUNG_ML", "lungs_from_ct"]

#: CT-number window of aerated lung parenchyma (HU).
LUNG_HU_WINDOW: Final = (-950.0, -400.0)
#: Smallest connected region kept as lung (mL).
MIN_LUNG_ML: Final = 100.0


def lungs_from_ct(
    ct: Volume,
    *,
    window: tuple[float, float] = LUNG_HU_WINDOW,
    min_volume_ml: float = MIN_LUNG_ML,
) -> NDArray[np.bool_]:
    """Lung VOI on ``ct``'s grid from its CT numbers (module docstring)."""
    if ct.unit.upper() != "HU":
        raise InvalidInputError("CT for the lung VOI", expected="a CT in HU", actual=ct.unit)
    hu = np.asarray(ct.array, dtype=np.float32)
    band = (hu >= window[0]) & (hu <= window[1])
    band = ndimage.binary_opening(band, structure=np.ones((3, 3, 3), bool))
    lab, n = ndimage.label(band)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    min_voxels = min_volume_ml / ct.voxel_volume_ml
    keep = [k for k in range(1, n + 1) if sizes[k] >= min_voxels]
    lungs = np.isin(lab, keep)
    for z in range(lungs.shape[0]):
        if lungs[z].any():
            lungs[z] = ndimage.binary_fill_holes(lungs[z])
    return lungs
