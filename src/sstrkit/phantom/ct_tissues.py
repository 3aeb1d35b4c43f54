"""CT-only anatomy of the digital patient: muscles, fat depots, bowel, stomach, gallbladder.

The truth label map knows organs and a generic remainder (``body``). A real
non-contrast CT shows much more in that remainder: subcutaneous and visceral fat,
the abdominal wall, psoas, paraspinal and quadratus lumborum muscles, the
diaphragm and its crura, perirenal fat, bowel loops and the stomach. These are
painted here into an integer *CT tissue map* on the truth grid, only into voxels
whose label is ``body`` (or a lesion, so that a lesion that shrinks uncovers
tissue), so the label map, the emission images and the dosimetry truth do not
change. The organs touch muscle, bowel or stomach somewhere, as in a patient,
so that a HU threshold with connected components merges them with their
neighbours.

Every structure is placed from the patient model, never from fixed coordinates
alone: the body ellipse (``model.body``, ``model.fat_rim_mm``), the spine found
in the label map (bone near the body axis; lumbar levels from ``model.vertebrae``
when they are named ``L1``...``L5``), the organs' positions in the label map
(liver, spleen, kidneys, heart, lungs, bladder). Random shapes (bowel loops,
layer thicknesses, gaps in the perirenal fat, texture) come from the patient's
seed, so the map is deterministic.

Encoding (one ``uint8`` per truth voxel): bits 0-4 the structure code
(:data:`STRUCTURES`, 0 = none: the label's own tissue), bits 5-7 the texture level
(0-7) of a smooth unit-variance random field (:data:`TEXTURE_LEVELS`) that
:func:`sstrkit.phantom.scanners.ct_hu` scales by each tissue's heterogeneity.
The map moves with the patient (:func:`sstrkit.phantom.positioning.move_anatomy`).

This module holds the encoding, the painter and :func:`ct_tissue_map`; the patient
frame and shape primitives are in :mod:`sstrkit.phantom.ct_frame`, the structures in
:mod:`sstrkit.phantom.ct_structures` and the bowel in :mod:`sstrkit.phantom.ct_bowel`.

Examples
--------
>>> from sstrkit.phantom.anatomy import PatientSpec, build_anatomy
>>> anatomy = build_anatomy(PatientSpec("M", seed=3), voxel_mm=8.0, lesions=False).voxelise()
>>> m = ct_tissue_map(anatomy)
>>> m.shape == anatomy.labels.shape, m.dtype.name
(True, 'uint8')
>>> codes = set(np.unique(structure_codes(m)).tolist())
>>> {STRUCTURES["psoas_muscle"], STRUCTURES["bowel_wall"]} <= codes
True
>>> round(float(np.mean(TEXTURE_LEVELS**2)), 12)
1.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import LABELS, LESION_LABEL0, Anatomy, Grid
from sstrkit.phantom.ct_bowel import _bowel
from sstrkit.phantom.ct_frame import _boxes, _frame, _smooth_field
from sstrkit.phantom.ct_structures import (
    _back_muscles,
    _body_layers,
    _gallbladder,
    _lumbar_levels,
    _pelvic_muscles,
    _perirenal,
    _stomach,
    _thorax_floor,
)
from sstrkit.phantom.parameters import parameters

__all__ = [
    "STRUCTURES",
    "STRUCTURE_TISSUE",
    "TEXTURE_LEVELS",
    "ct_tissue_map",
    "structure_codes",
    "structure_mask",
    "texture_levels",
]

#: Code of every CT-only structure in the tissue map (bits 0-4).
STRUCTURES: dict[str, int] = {
    "subcutaneous_fat": 1,
    "body_wall_muscle": 2,
    "paraspinal_muscle": 3,
    "psoas_muscle": 4,
    "quadratus_lumborum": 5,
    "pelvic_muscle": 6,
    "diaphragm": 7,
    "myocardium": 8,
    "intervertebral_disc": 9,
    "perirenal_fat": 10,
    "visceral_fat": 11,
    "bowel_wall": 12,
    "bowel_content": 13,
    "colon_content": 14,
    "bowel_gas": 15,
    "stomach_wall": 16,
    "stomach_content": 17,
    "stomach_gas": 18,
    "gallbladder": 19,
}

#: The tissue (key of ``[ct.hu]`` in parameters.toml) of every structure.
STRUCTURE_TISSUE: dict[str, str] = {
    "subcutaneous_fat": "fat_subcutaneous",
    "body_wall_muscle": "muscle",
    "paraspinal_muscle": "muscle",
    "psoas_muscle": "muscle",
    "quadratus_lumborum": "muscle",
    "pelvic_muscle": "muscle",
    "diaphragm": "muscle",
    "myocardium": "muscle",
    "intervertebral_disc": "intervertebral_disc",
    "perirenal_fat": "fat_perirenal",
    "visceral_fat": "fat_visceral",
    "bowel_wall": "bowel_wall",
    "bowel_content": "bowel_content",
    "colon_content": "colon_content",
    "bowel_gas": "gas",
    "stomach_wall": "bowel_wall",
    "stomach_content": "stomach_content",
    "stomach_gas": "gas",
    "gallbladder": "bile",
}

_CODE_BITS = 5
_CODE_MASK = (1 << _CODE_BITS) - 1
_N_LEVELS = 8


def _texture_levels() -> NDArray[np.float64]:
    """Conditional means of N(0, 1) in 8 equiprobable bins, rescaled to unit mean square."""
    edges = special.ndtri(np.arange(_N_LEVELS + 1) / _N_LEVELS)
    pdf = np.exp(-0.5 * np.nan_to_num(edges, posinf=1e6, neginf=-1e6) ** 2) / math.sqrt(2 * math.pi)
    means = (pdf[:-1] - pdf[1:]) * _N_LEVELS
    out: NDArray[np.float64] = means / math.sqrt(float(np.mean(means**2)))
    return out


#: Value (unit-variance field) of each texture level 0-7: equiprobable quantiles.
TEXTURE_LEVELS: NDArray[np.float64] = _texture_levels()
_LEVEL_EDGES: NDArray[np.float64] = special.ndtri(np.arange(1, _N_LEVELS) / _N_LEVELS)

_BODY = LABELS["body"]


def structure_codes(ct_map: NDArray[Any]) -> NDArray[np.uint8]:
    """Structure code of every voxel (0: the label's own tissue)."""
    out: NDArray[np.uint8] = np.bitwise_and(np.asarray(ct_map, dtype=np.uint8), _CODE_MASK)
    return out


def texture_levels(ct_map: NDArray[Any]) -> NDArray[np.uint8]:
    """Texture level (0-7) of every voxel; its field value is ``TEXTURE_LEVELS[level]``."""
    out: NDArray[np.uint8] = np.right_shift(np.asarray(ct_map, dtype=np.uint8), _CODE_BITS)
    return out


def structure_mask(ct_map: NDArray[Any], labels: NDArray[Any], *names: str) -> NDArray[np.bool_]:
    """Voxels of the named structures that are ``body`` in ``labels`` (as the CT paints them)."""
    unknown = [n for n in names if n not in STRUCTURES]
    if unknown:
        raise InvalidInputError(
            "CT structure", expected=f"one of {sorted(STRUCTURES)}", actual=unknown
        )
    codes = [STRUCTURES[n] for n in names]
    out: NDArray[np.bool_] = np.isin(structure_codes(ct_map), codes) & (np.asarray(labels) == _BODY)
    return out


# ---------------------------------------------------------------- painter
class _Painter:
    """Paints structure codes into still-free body voxels (first come, first served)."""

    def __init__(self, lab: NDArray[Any]) -> None:
        self.code = np.zeros(lab.shape, dtype=np.uint8)
        self.free = (lab == _BODY) | (lab >= LESION_LABEL0)

    def paint(
        self, name: str, mask: NDArray[np.bool_], sl: tuple[slice, slice, slice] | None = None
    ) -> None:
        s = (slice(None), slice(None), slice(None)) if sl is None else sl
        free = self.free[s]
        sel = mask & free
        self.code[s][sel] = STRUCTURES[name]
        free[sel] = False


# ---------------------------------------------------------------- texture
def _texture(rng: np.random.Generator, grid: Grid, correlation_mm: float) -> NDArray[np.uint8]:
    """Texture level (0-7) per voxel of a smooth unit-variance Gaussian random field.

    White noise on a lattice of ~4 mm is Gaussian-filtered (σ = ``correlation_mm``),
    rescaled to unit SD, interpolated linearly to the truth grid and quantised into
    8 equiprobable levels (values :data:`TEXTURE_LEVELS`).
    """
    v = float(min(grid.spacing))
    factor = max(1, round(4.0 / v))
    coarse = tuple(math.ceil(n / factor) + 1 for n in grid.shape)
    field = _smooth_field(rng, coarse, correlation_mm / (v * factor))
    if factor > 1:
        field = ndimage.zoom(field, factor, order=1, grid_mode=False)
    field = field[: grid.shape[0], : grid.shape[1], : grid.shape[2]]
    field = (field - float(field.mean())) / max(float(field.std()), 1e-12)
    out: NDArray[np.uint8] = np.digitize(field, _LEVEL_EDGES).astype(np.uint8)
    return out


# ---------------------------------------------------------------- entry point
def ct_tissue_map(anatomy: Anatomy) -> NDArray[np.uint8]:
    """The CT-only tissue map of an (unmoved) patient on its truth grid (see the module doc).

    Deterministic for the patient's seed. Computed once per patient; a repositioned
    patient moves it with its labels (:func:`sstrkit.phantom.positioning.move_anatomy`).
    """
    model = anatomy.model
    lab = np.asarray(anatomy.labels.array)
    if lab.shape != model.grid.shape:
        raise InvalidInputError("label map", expected=f"shape {model.grid.shape}", actual=lab.shape)
    p_ct = parameters()["ct"]
    rng = np.random.default_rng([int(model.patient.seed), 23])
    f = _frame(anatomy)
    boxes = _boxes(lab, model.grid)
    z_l1, z_l5 = _lumbar_levels(anatomy, f, boxes)
    p = _Painter(lab)
    inner = _body_layers(p, f, rng, float(model.fat_rim_mm))
    _back_muscles(p, f, z_l1, z_l5)
    _pelvic_muscles(p, f, lab, z_l5)
    _thorax_floor(p, f, lab, boxes, z_l1, z_l5)
    _gallbladder(p, f, lab, boxes)
    z_floor = float(boxes["lungs"].lo[2]) if "lungs" in boxes else float(f.zs[-1])
    _stomach(p, f, boxes, z_floor)
    _perirenal(p, f, lab, boxes, rng)
    _bowel(p, f, boxes, rng, inner, z_l1, z_l5)
    p.paint("visceral_fat", np.ones(lab.shape, dtype=bool))
    levels = _texture(rng, model.grid, float(p_ct["texture_correlation_mm"]))
    out: NDArray[np.uint8] = p.code | np.left_shift(levels, _CODE_BITS).astype(np.uint8)
    return out
