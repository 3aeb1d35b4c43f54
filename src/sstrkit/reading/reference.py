"""Reference regions: liver, spleen and blood pool SUVs that scores are read against.

* **Liver** — a 3 cm diameter sphere in the normal right lobe (PERCIST 1.0,
  Wahl et al. 2009 J Nucl Med 50 Suppl 1:122S-150S; also the EANM FDG guideline
  2015 3 cm right-lobe VOI).
* **Spleen** — a 2 cm diameter sphere at the deepest point of the spleen
  (sstrkit choice: the spleen is smaller than the liver; Krenning grade 4 needs it).
* **Blood pool** — aorta voxels at least 2 mm from the wall within ±10 mm
  (cranio-caudal) of the deepest aortic point: an approximation of PERCIST's
  1 cm × 2 cm cylinder in the descending aorta.

With organ labels the sphere sits at the point of the organ farthest from its
edge and from hot voxels (robust outliers, SUV > median + 3 robust SD, e.g.
lesions), on the patient's right half of the liver (LPS x below the liver's
median x). Without labels, :func:`heuristic_liver` / :func:`heuristic_spleen`
look for large homogeneous regions (documented in docs/reading.md); their
placement is always reported (``method``, ``center_mm``) for the reader to check.

Organs an automatic segmentation flags as missing (``absent``, ``implausible``,
``not_visible``; :class:`~sstrkit.reading.organs.OrganMap` ``quality``) are never
measured from their label. A missing *liver* falls back to the heuristic (flagged:
``liver_reliable`` is false, so no eligibility rule is decided on it); a missing
*spleen* (splenectomy) is not replaced by the heuristic — which would pick the
left kidney — but left out: Krenning grades above liver are then read against the
liver only (``spleen_missing``; see :func:`~sstrkit.reading.scores.krenning_score`).

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> a = np.zeros((40, 40, 40)); a[5:35, 5:35, 5:20] = 6.0   # "liver" block, x < 20
>>> lab = np.zeros(a.shape, dtype=np.int16); lab[5:35, 5:35, 5:20] = 1
>>> suv = Volume.from_array(a, spacing=(2.0, 2.0, 2.0), quantity="SUV", unit="g/mL")
>>> org = Volume.from_array(lab, spacing=(2.0, 2.0, 2.0))
>>> ref = measure_references(suv, organs=org, organ_names={1: "liver"})
>>> round(ref.liver.suv_mean, 3), ref.liver.method, ref.spleen is None
(6.0, 'organ_label', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.organs import OrganMap, prepare_organs

__all__ = [
    "ReferenceRegion",
    "ReferenceSet",
    "ball",
    "check_suv_volume",
    "heuristic_liver",
    "heuristic_spleen",
    "measure_references",
]

PERCIST_SOURCE = "Wahl RL et al. PERCIST 1.0. J Nucl Med 2009;50 Suppl 1:122S-150S"
LIVER_DIAMETER_MM = 30.0
SPLEEN_DIAMETER_MM = 20.0


def check_suv_volume(suv: Volume) -> None:
    """Raise unless ``suv`` holds SUVs (quantity ``SUV*`` or unit g/mL), finite and ≥ 0 mostly."""
    q, u = suv.quantity.lower(), suv.unit.lower()
    if not (q.startswith("suv") or u in ("g/ml", "g/cm3")):
        raise InvalidInputError(
            f"PET volume {suv.name!r}",
            expected="SUV values (quantity 'SUV…' or unit 'g/mL')",
            actual=f"quantity {suv.quantity!r}, unit {suv.unit!r}",
            fix="convert activity concentration to SUV first (sstrkit.io SUV readers)",
        )
    arr = np.asarray(suv.array)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(
            f"PET volume {suv.name!r}", expected="finite SUVs", actual="NaN or inf voxels"
        )
    if float(arr.max(initial=0.0)) <= 0.0:
        raise InvalidInputError(
            f"PET volume {suv.name!r}",
            expected="some voxels with SUV > 0",
            actual="an empty image",
            fix="check the series (attenuation-corrected emission image expected)",
        )


def ball(spacing_zyx: tuple[float, float, float], radius_mm: float) -> NDArray[np.bool_]:
    """Boolean ball of voxel centres within ``radius_mm`` (numpy z, y, x order).

    >>> int(ball((1.0, 1.0, 1.0), 1.0).sum())
    7
    """
    half = [int(np.floor(radius_mm / s + 1e-9)) for s in spacing_zyx]
    zz, yy, xx = np.ogrid[-half[0] : half[0] + 1, -half[1] : half[1] + 1, -half[2] : half[2] + 1]
    d2 = (zz * spacing_zyx[0]) ** 2 + (yy * spacing_zyx[1]) ** 2 + (xx * spacing_zyx[2]) ** 2
    out: NDArray[np.bool_] = d2 <= radius_mm**2 + 1e-9
    return out


@dataclass(frozen=True)
class ReferenceRegion:
    """SUV statistics of one reference region and where it was placed."""

    name: str
    suv_mean: float
    suv_sd: float
    suv_max: float
    volume_ml: float
    n_voxels: int
    center_mm: tuple[float, float, float]
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "suv_mean": self.suv_mean,
            "suv_sd": self.suv_sd,
            "suv_max": self.suv_max,
            "volume_ml": self.volume_ml,
            "n_voxels": self.n_voxels,
            "center_mm": list(self.center_mm),
            "method": self.method,
            "note": self.note,
        }


@dataclass(frozen=True)
class ReferenceSet:
    """Liver, spleen and blood-pool references (each may be missing, with a note why)."""

    liver: ReferenceRegion | None
    spleen: ReferenceRegion | None
    blood_pool: ReferenceRegion | None
    notes: tuple[str, ...] = ()
    history: tuple[Step, ...] = ()
    #: False when the liver reference stands in for a liver the segmentation flags as
    #: missing or implausible: it is shown, but no eligibility rule is decided on it.
    liver_reliable: bool = True
    #: True when the segmentation found no usable spleen (e.g. after splenectomy).
    spleen_missing: bool = False

    @property
    def liver_mean(self) -> float | None:
        return None if self.liver is None else self.liver.suv_mean

    @property
    def spleen_mean(self) -> float | None:
        return None if self.spleen is None else self.spleen.suv_mean

    @property
    def blood_pool_mean(self) -> float | None:
        return None if self.blood_pool is None else self.blood_pool.suv_mean

    def to_dict(self) -> dict[str, Any]:
        return {
            "liver_suv_mean": self.liver_mean,
            "spleen_suv_mean": self.spleen_mean,
            "blood_pool_suv_mean": self.blood_pool_mean,
            "regions": {
                r.name: r.to_dict()
                for r in (self.liver, self.spleen, self.blood_pool)
                if r is not None
            },
            "notes": list(self.notes),
            "liver_reliable": self.liver_reliable,
            "spleen_missing": self.spleen_missing,
            "history": [s.to_dict() for s in self.history],
        }


# --------------------------------------------------------------------------- helpers
def _spacing_zyx(vol: Volume) -> tuple[float, float, float]:
    sx, sy, sz = vol.spacing
    return (sz, sy, sx)


def _robust_hot(values: NDArray[np.floating[Any]]) -> float:
    """Hot-voxel threshold: median + 3 robust SD (1.4826 MAD), at least 10 % above median."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    return med + max(3.0 * mad, 0.1 * abs(med))


def _region_stats(
    suv: NDArray[np.floating[Any]],
    mask: NDArray[np.bool_],
    vol: Volume,
    name: str,
    method: str,
    note: str,
) -> ReferenceRegion:
    vals = suv[mask].astype(float)
    idx = np.argwhere(mask).mean(axis=0)  # z, y, x
    center = vol.index_to_physical(idx[::-1])
    return ReferenceRegion(
        name=name,
        suv_mean=float(vals.mean()),
        suv_sd=float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
        suv_max=float(vals.max()),
        volume_ml=float(vals.size * vol.voxel_volume_ml),
        n_voxels=int(vals.size),
        center_mm=(float(center[0]), float(center[1]), float(center[2])),
        method=method,
        note=note,
    )


def _sphere_in_region(
    suv: NDArray[np.floating[Any]],
    region: NDArray[np.bool_],
    vol: Volume,
    *,
    diameter_mm: float,
    prefer_patient_right: bool,
) -> tuple[NDArray[np.bool_], str] | None:
    """Sphere of ``diameter_mm`` at the deepest point of ``region`` (minus hot voxels)."""
    if not region.any():
        return None
    sl = ndimage.find_objects(region.astype(np.int8))[0]
    pad = int(np.ceil(diameter_mm / min(vol.spacing))) + 1
    sl = tuple(
        slice(max(s.start - pad, 0), min(s.stop + pad, n))
        for s, n in zip(sl, region.shape, strict=True)
    )
    sub = region[sl]
    vals = suv[sl]
    usable = sub & (vals <= _robust_hot(vals[sub]))
    spacing = _spacing_zyx(vol)
    depth = ndimage.distance_transform_edt(usable, sampling=spacing)
    note = ""
    candidates = usable.copy()
    if prefer_patient_right:
        pts = np.argwhere(usable)
        offs = np.array([s.start for s in sl])
        x_mm = vol.index_to_physical((pts + offs)[:, ::-1])[:, 0]
        right = np.zeros_like(usable)
        sel = x_mm <= np.median(x_mm)  # LPS: +x is patient left, so right lobe = lower x
        right[tuple(pts[sel].T)] = True
        if (depth * right).max() > 0:
            candidates = right
    score = np.where(candidates, depth, 0.0)
    best = np.unravel_index(int(np.argmax(score)), score.shape)
    radius = diameter_mm / 2.0
    if score[best] < radius:
        radius = float(score[best])
        note = (
            f"organ too small or heterogeneous for a {diameter_mm:g} mm sphere; "
            f"used {2 * radius:.1f} mm"
        )
    if radius <= 0:
        return None
    kern = ball(spacing, radius)
    sphere = np.zeros(sub.shape, dtype=bool)
    h = [k // 2 for k in kern.shape]
    lo = [int(b) - hh for b, hh in zip(best, h, strict=True)]
    box = tuple(
        slice(max(lo_i, 0), min(lo_i + k, n))
        for lo_i, k, n in zip(lo, kern.shape, sub.shape, strict=True)
    )
    kbox = tuple(slice(b.start - lo_i, b.stop - lo_i) for b, lo_i in zip(box, lo, strict=True))
    sphere[box] = kern[kbox]
    sphere &= usable
    full = np.zeros(region.shape, dtype=bool)
    full[sl] = sphere
    return full, note


def _blood_pool(
    suv: NDArray[np.floating[Any]], aorta: NDArray[np.bool_], vol: Volume
) -> ReferenceRegion | None:
    objs = ndimage.find_objects(aorta.astype(np.int8))
    if not objs or objs[0] is None:
        return None
    sl = tuple(
        slice(max(s.start - 1, 0), min(s.stop + 1, n))
        for s, n in zip(objs[0], aorta.shape, strict=True)
    )
    sub = aorta[sl]
    depth = ndimage.distance_transform_edt(sub, sampling=_spacing_zyx(vol))
    core = depth >= 2.0
    if not core.any():
        core = sub
    zc = int(np.unravel_index(int(np.argmax(depth)), depth.shape)[0])
    half = max(round(10.0 / vol.spacing[2]), 0)
    zsel = np.zeros_like(core)
    zsel[max(zc - half, 0) : zc + half + 1] = True
    mask = np.zeros(aorta.shape, dtype=bool)
    mask[sl] = core & zsel
    return _region_stats(
        suv,
        mask,
        vol,
        "blood_pool",
        "organ_label",
        "aorta voxels ≥ 2 mm from the wall within ±10 mm of the deepest aortic point "
        "(approximation of PERCIST's 1 cm × 2 cm descending-aorta cylinder)",
    )


# ------------------------------------------------------------------------ heuristics
def _homogeneous_components(
    suv: NDArray[np.floating[Any]], vol: Volume, cube_mm: float = 24.0
) -> tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Label homogeneous high-uptake regions (centres of cubes with CV < 0.15)."""
    size = [max(round(cube_mm / s), 1) for s in _spacing_zyx(vol)]
    x = suv.astype(np.float32)
    m = ndimage.uniform_filter(x, size=size, mode="constant")
    m2 = ndimage.uniform_filter(x * x, size=size, mode="constant")
    sd = np.sqrt(np.clip(m2 - m * m, 0.0, None))
    body = ndimage.gaussian_filter(x, 1.0) > 0.3
    body_med = float(np.median(x[body])) if body.any() else 0.0
    homog = body & (sd < 0.15 * m) & (m > 1.5 * body_med) & (m > 0)
    labels, _ = ndimage.label(homog)
    return labels.astype(np.int32), m.astype(np.float64), sd.astype(np.float64), body


def heuristic_liver(suv: Volume) -> ReferenceRegion | None:
    """Liver reference without labels (documented heuristic).

    The liver is taken as the largest connected set of homogeneous (local
    coefficient of variation < 0.15 over a 24 mm cube, ≈ the 3 cm sphere's
    volume) voxels above 1.5 × the body's median SUV whose centroid lies on the
    patient's right (LPS x below the body's centroid). The 3 cm sphere is placed
    at the deepest point of that set.
    """
    arr = np.asarray(suv.array, dtype=np.float64)
    labels, _m, _sd, body = _homogeneous_components(arr, suv)
    return _heuristic_region(
        arr,
        labels,
        body,
        suv,
        side="right",
        name="liver",
        diameter_mm=LIVER_DIAMETER_MM,
        reason="no liver label: largest homogeneous region on the patient's right",
    )


def heuristic_spleen(suv: Volume, liver: ReferenceRegion | None) -> ReferenceRegion | None:
    """Spleen reference without labels (documented heuristic).

    Largest homogeneous region (as for the liver) on the patient's left whose
    cranio-caudal extent contains the liver sphere's centre and whose uptake
    exceeds the liver's; a 2 cm sphere at its deepest point.
    """
    if liver is None:
        return None
    arr = np.asarray(suv.array, dtype=np.float64)
    labels, m, _sd, body = _homogeneous_components(arr, suv)
    z_liver = float(suv.physical_to_index(liver.center_mm)[2])
    keep = np.zeros(labels.max() + 1, dtype=bool)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        zs = sl[0]
        if zs.start - 2 <= z_liver <= zs.stop + 2:
            sel = labels[sl] == i
            if float(m[sl][sel].mean()) > liver.suv_mean:
                keep[i] = True
    labels = np.where(keep[labels], labels, 0)
    return _heuristic_region(
        arr,
        labels,
        body,
        suv,
        side="left",
        name="spleen",
        diameter_mm=SPLEEN_DIAMETER_MM,
        reason="no spleen label: largest homogeneous region hotter than liver on the patient's "
        "left at liver level",
    )


def _heuristic_region(
    arr: NDArray[np.float64],
    labels: NDArray[np.int32],
    body: NDArray[np.bool_],
    suv: Volume,
    *,
    side: str,
    name: str,
    diameter_mm: float,
    reason: str,
) -> ReferenceRegion | None:
    """Sphere at the deepest point of the largest component on ``side``; its statistics."""
    comp = _pick_component(labels, suv, body, side=side)
    if comp is None:
        return None
    return _sphere_reference(
        arr,
        comp,
        suv,
        name=name,
        method="heuristic",
        diameter_mm=diameter_mm,
        prefer_patient_right=False,
        reason=reason,
    )


def _sphere_reference(
    arr: NDArray[np.float64],
    region: NDArray[np.bool_],
    suv: Volume,
    *,
    name: str,
    method: str,
    diameter_mm: float,
    prefer_patient_right: bool,
    reason: str,
) -> ReferenceRegion | None:
    """Statistics of a sphere placed at the deepest point of ``region`` (None if none fits)."""
    placed = _sphere_in_region(
        arr, region, suv, diameter_mm=diameter_mm, prefer_patient_right=prefer_patient_right
    )
    if placed is None:
        return None
    sphere, note = placed
    return _region_stats(arr, sphere, suv, name, method, reason + _sep(note))


def _pick_component(
    labels: NDArray[np.int32], vol: Volume, body: NDArray[np.bool_], side: str
) -> NDArray[np.bool_] | None:
    n = int(labels.max())
    if n == 0 or not body.any():
        return None
    body_x = float(vol.index_to_physical(np.argwhere(body).mean(axis=0)[::-1])[0])
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    present = [i for i in range(1, n + 1) if sizes[i] > 0]
    if not present:
        return None
    centres = ndimage.center_of_mass(np.ones(labels.shape), labels, present)
    best, best_size = 0, 0
    for i, c in zip(present, centres, strict=True):
        x = float(vol.index_to_physical(np.asarray(c)[::-1])[0])
        on_side = x < body_x if side == "right" else x > body_x
        if on_side and sizes[i] > best_size:
            best, best_size = i, int(sizes[i])
    if best == 0:
        return None
    out: NDArray[np.bool_] = labels == best
    return out


# ---------------------------------------------------------------------------- main
def measure_references(
    suv: Volume,
    organs: Volume | OrganMap | None = None,
    *,
    organ_names: Mapping[int, str] | None = None,
    resample_labels: bool = False,
    exclude: NDArray[np.bool_] | None = None,
) -> ReferenceSet:
    """Place and measure the liver, spleen and blood-pool references.

    Parameters
    ----------
    suv
        SUV volume.
    organs
        Organ label volume (or a prepared :class:`OrganMap`) on the PET grid.
    organ_names
        ``{code: name}`` of the labels.
    resample_labels
        Resample labels on another grid with nearest neighbour instead of raising.
    exclude
        Voxels (on the PET grid) known not to be normal tissue, kept out of the
        labelled liver and spleen before the spheres are placed: e.g. the lesions
        delineated on a paired SSTR PET when the references of an FDG PET are
        measured (an SSTR-avid liver metastasis may be FDG-isointense, so it is
        not excluded as hot, yet it is not normal liver).
    """
    check_suv_volume(suv)
    arr = np.asarray(suv.array, dtype=np.float64)
    if exclude is not None and exclude.shape != arr.shape:
        raise InvalidInputError(
            "reference exclusion mask",
            expected=f"the PET grid shape {arr.shape}",
            actual=exclude.shape,
            fix="resample the mask onto the PET grid (nearest neighbour)",
        )
    keep = ~exclude if exclude is not None else np.ones(arr.shape, dtype=bool)
    omap: OrganMap | None
    if isinstance(organs, Volume):
        omap = prepare_organs(organs, suv, organ_names, resample=resample_labels)
    else:
        omap = organs
    notes: list[str] = []
    liver, liver_reliable = _liver_reference(arr, suv, omap, keep, notes)
    spleen, spleen_missing = _spleen_reference(arr, suv, omap, keep, liver, notes)
    blood = _blood_pool_reference(arr, suv, omap, notes)
    step = Step.make(
        "measure_references",
        {
            "liver_diameter_mm": LIVER_DIAMETER_MM,
            "spleen_diameter_mm": SPLEEN_DIAMETER_MM,
            "labels": omap is not None,
            "labels_source": omap.source if omap is not None else None,
            "excluded_voxels": int(exclude.sum()) if exclude is not None else 0,
        },
        inputs=(suv.name,),
        sources=(PERCIST_SOURCE,),
    )
    return ReferenceSet(
        liver,
        spleen,
        blood,
        tuple(notes),
        (step,),
        liver_reliable=liver_reliable,
        spleen_missing=spleen_missing,
    )


def _liver_reference(
    arr: NDArray[np.float64],
    suv: Volume,
    omap: OrganMap | None,
    keep: NDArray[np.bool_],
    notes: list[str],
) -> tuple[ReferenceRegion | None, bool]:
    """(liver reference, reliable): the labelled right lobe, else the no-label heuristic.

    A liver the segmentation flags as missing is never measured from its label: the
    heuristic stands in and the reference is not reliable (no rule is decided on it).
    """
    liver = None
    liver_reliable = True
    if omap is not None and omap.known_missing("liver"):
        liver_reliable = False
        notes.append(
            f"liver {omap.status('liver')} in the {omap.source} organ segmentation: the "
            "liver reference below is a stand-in (no-label heuristic) and flagged; "
            "rules that need the liver ('uptake >= liver') are not assessed"
        )
    elif omap is not None and omap.has("liver"):
        liver = _sphere_reference(
            arr,
            omap.mask("liver") & keep,
            suv,
            name="liver",
            method="organ_label",
            diameter_mm=LIVER_DIAMETER_MM,
            prefer_patient_right=True,
            reason="3 cm sphere, deepest point of the normal right lobe",
        )
    if liver is None:
        liver = heuristic_liver(suv)
        notes.append(
            "liver reference from the no-label heuristic"
            if liver is not None
            else "no liver reference: pass organ labels"
        )
    return liver, liver_reliable


def _spleen_reference(
    arr: NDArray[np.float64],
    suv: Volume,
    omap: OrganMap | None,
    keep: NDArray[np.bool_],
    liver: ReferenceRegion | None,
    notes: list[str],
) -> tuple[ReferenceRegion | None, bool]:
    """(spleen reference, missing): the labelled spleen, else the no-label heuristic.

    A spleen the segmentation flags as missing (splenectomy) is not replaced by the
    heuristic, which would pick the left kidney: it is ``missing``; when it is reported
    absent yet a spleen-like region lies outside the labelled organs, a note says so.
    """
    spleen = None
    spleen_missing = False
    if omap is not None and omap.known_missing("spleen"):
        spleen_missing = True
        notes.append(
            f"spleen {omap.status('spleen')} in the {omap.source} organ segmentation "
            "(splenectomy?): no spleen reference; Krenning grades above liver are read "
            "against the liver (grade 3 = above liver, a lower bound: grade 4 needs the spleen)"
        )
    elif omap is not None and omap.has("spleen"):
        spleen = _sphere_reference(
            arr,
            omap.mask("spleen") & keep,
            suv,
            name="spleen",
            method="organ_label",
            diameter_mm=SPLEEN_DIAMETER_MM,
            prefer_patient_right=False,
            reason="2 cm sphere at the deepest point of the spleen",
        )
    if spleen_missing and omap is not None and omap.status("spleen") == "absent":
        # a spleen the segmentation missed would be read as a large lesion: say so
        look = heuristic_spleen(suv, liver)
        if look is not None and omap.kind_of(int(omap.labels[_index(suv, look.center_mm)])) is None:
            notes.append(
                "check the segmentation: a spleen-like region (homogeneous, hotter than liver, "
                "left side at liver level; centre "
                + ", ".join(f"{c:.0f}" for c in look.center_mm)
                + " mm LPS) lies outside the labelled organs although the spleen is reported "
                "absent"
            )
    if spleen is None and not spleen_missing and (omap is None or not omap.has("spleen")):
        spleen = heuristic_spleen(suv, liver)
        notes.append(
            "spleen reference from the no-label heuristic"
            if spleen is not None
            else "no spleen reference (no label and the heuristic found none)"
        )
    return spleen, spleen_missing


def _blood_pool_reference(
    arr: NDArray[np.float64], suv: Volume, omap: OrganMap | None, notes: list[str]
) -> ReferenceRegion | None:
    """The blood pool in the aorta label, else in a blood-pool label; None (noted) without."""
    blood = None
    if omap is not None and omap.has("aorta"):
        blood = _blood_pool(arr, omap.mask("aorta"), suv)
    elif omap is not None and omap.has("blood"):
        blood = _blood_pool(arr, omap.mask("blood"), suv)
        if blood is not None:
            blood = replace(blood, note=blood.note + "; no aorta label: blood-pool label used")
    if blood is None:
        notes.append("no blood-pool reference: needs an aorta (or blood-pool) label")
    return blood


def _index(vol: Volume, point_mm: tuple[float, float, float]) -> tuple[int, int, int]:
    """Numpy (z, y, x) index of the voxel nearest a physical point (clipped to the grid)."""
    ijk = np.rint(vol.physical_to_index(point_mm)).astype(int)
    nz, ny, nx = vol.shape
    return (
        int(np.clip(ijk[2], 0, nz - 1)),
        int(np.clip(ijk[1], 0, ny - 1)),
        int(np.clip(ijk[0], 0, nx - 1)),
    )


def _sep(note: str) -> str:
    return f"; {note}" if note else ""
