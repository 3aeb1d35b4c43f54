"""Stand-in for :func:`sstrkit.organs.segment.segment_organs` built from phantom truth labels.

Until the offline organ segmentation lands (and to test the reading plumbing
independently of its accuracy), tests monkeypatch ``segment_organs`` with
:func:`truth_segmenter`: it maps the digital patient's truth label map
(:data:`sstrkit.phantom.anatomy.LABELS`) to the segmentation's class names
(:data:`sstrkit.organs.model.CLASS_NAMES`) on the CT grid, as a perfect
segmentation would. Lesion labels are given to the host organ (nearest
non-lesion label), as an organ segmentation includes its lesions; pancreas,
heart blood and aorta have no class and become ``body``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.organs.model import CLASS_NAMES, OrganQuality, OrganSegmentation, label_of

#: Phantom region → segmentation class.
PHANTOM_TO_CLASS: Mapping[str, str] = {
    "body": "body",
    "cortical_bone": "bone",
    "spongiosa": "bone",
    "liver": "liver",
    "spleen": "spleen",
    "kidney_left_cortex": "kidney_left",
    "kidney_left_medulla": "kidney_left",
    "kidney_right_cortex": "kidney_right",
    "kidney_right_medulla": "kidney_right",
    "adrenal_left": "adrenal_gland_left",
    "adrenal_right": "adrenal_gland_right",
    "bladder": "urinary_bladder",
    "pancreas_head": "body",
    "pancreas_uncinate": "body",
    "pancreas_body_tail": "body",
    "heart_blood": "body",
    "aorta": "body",
}


def class_labels(
    truth: NDArray[Any],
    truth_names: Mapping[int, str],
    *,
    origin_x_index: float | None = None,
) -> NDArray[np.int16]:
    """Class label array from a phantom truth label array (lesions → host organ)."""
    codes = np.asarray(truth).astype(np.int32)
    lesion = np.zeros(codes.shape, dtype=bool)
    for c, n in truth_names.items():
        if n.startswith("lesion"):
            lesion |= codes == c
    if lesion.any():
        _, idx = ndimage.distance_transform_edt(lesion, return_indices=True)
        codes = codes[tuple(idx)]
    out = np.zeros(codes.shape, dtype=np.int16)
    for c, n in truth_names.items():
        cls = PHANTOM_TO_CLASS.get(n)
        if n == "lungs":
            sel = codes == c
            xs = np.arange(codes.shape[2])[None, None, :]
            mid = codes.shape[2] / 2.0 if origin_x_index is None else origin_x_index
            out[sel & (xs < mid)] = label_of("lung_right")
            out[sel & (xs >= mid)] = label_of("lung_left")
        elif cls is not None:
            out[codes == c] = label_of(cls)
    return out


def fake_segmentation(
    ct: Volume,
    truth: Volume,
    truth_names: Mapping[int, str],
    *,
    drop: Iterable[str] = (),
    status: Mapping[str, str] | None = None,
) -> OrganSegmentation:
    """An :class:`OrganSegmentation` on ``ct``'s grid from truth labels.

    ``drop`` removes classes (their voxels become ``body``; quality ``absent``), as after a
    splenectomy or nephrectomy; ``status`` overrides the quality of named classes.
    """
    on_ct = truth.resample_to(ct, mode="nearest") if not truth.same_space(ct) else truth
    sx, _, _ = ct.spacing
    x0 = -ct.origin[0] / sx  # index of LPS x = 0 (identity direction in the phantom)
    arr = class_labels(
        np.asarray(on_ct.array),
        truth_names,
        origin_x_index=x0,
    )
    dropped = set(drop)
    for name in dropped:
        arr[arr == label_of(name)] = label_of("body")
    vox_ml = ct.voxel_volume_ml
    organs = []
    for code, name in CLASS_NAMES.items():
        n = int((arr == code).sum())
        st = "absent" if name in dropped or n == 0 else "plausible"
        if status and name in status:
            st = status[name]
        centroid = None
        if n:
            idx = np.argwhere(arr == code).mean(axis=0)
            c = ct.index_to_physical(idx[::-1])
            centroid = (float(c[0]), float(c[1]), float(c[2]))
        organs.append(OrganQuality(name, code, n * vox_ml, st, "", centroid))  # type: ignore[arg-type]
    labels = ct.with_array(arr, operation="fake_organ_segmentation", quantity="label", unit="1")
    return OrganSegmentation(
        labels=labels,
        names=dict(CLASS_NAMES),
        organs=tuple(organs),
        method="truth labels (test stand-in)",
        provenance=Step.make("fake_segment_organs"),
        notes=("test stand-in built from the phantom's truth labels",),
    )


def truth_segmenter(
    truth: Volume, truth_names: Mapping[int, str], **kw: Any
) -> Callable[..., OrganSegmentation]:
    """A drop-in for ``segment_organs(ct, emission, ...)`` returning the truth classes."""
    calls: list[dict[str, Any]] = []

    def segment(ct: Volume, emission: Volume | None = None, **kwargs: Any) -> OrganSegmentation:
        calls.append({"ct": ct, "emission": emission, **kwargs})
        return fake_segmentation(ct, truth, truth_names, **kw)

    segment.calls = calls  # type: ignore[attr-defined]
    return segment
