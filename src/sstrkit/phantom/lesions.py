"""NET lesions of the digital patient, drawn from the seed.

Every patient has

* a pancreatic primary (22-34 mm) in the pancreatic head;
* 3-5 SSTR-positive liver metastases: one large (45-60 mm), the others 8-30 mm
  (log-uniform), at least one below 12 mm;
* one liver metastasis with low SSTR expression (uptake below the liver);
* two lymph nodes (para-aortic and aorto-caval, 10-20 mm);
* one or two vertebral bone metastases (10-16 mm);
* optionally an FDG-avid, SSTR-negative liver lesion (15-25 mm) for dual-tracer reading.

Liver and pancreatic lesions are placed relative to their host organ (unit
coordinates of its ellipsoid) so that they follow the organ-size calibration;
lymph nodes follow the aorta; bone lesions sit in a vertebral body. After the
calibration, :func:`separate_lesions` pushes liver lesions apart until every
pair is at least :data:`MIN_GAP_MM` apart (surface to surface): about 1.5 × the
PET FWHM (5.5 mm), so that every true lesion is resolvable on PET and its measured
metrics can be compared with its own truth (closer lesions read as one blob on
any scanner of that resolution). On the ORNL stylized anatomy, whose organs are cut
solids, :func:`fit_lesions` replaces that step: it moves every liver and pancreas
lesion to the nearest position inside its host organ, as far apart.

Examples
--------
>>> les = draw_lesions(7, vertebrae={"L1": (0.0, 40.0, 18.0), "L3": (0.0, 40.0, -54.0)})
>>> [l.site for l in les][:2]
['pancreas', 'liver']
>>> all(8.0 <= l.diameter_mm <= 60.0 for l in les)
True
>>> les == draw_lesions(7, vertebrae={"L1": (0.0, 40.0, 18.0), "L3": (0.0, 40.0, -54.0)})
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from sstrkit.phantom.anatomy import AnatomyModel, LesionGeometry
from sstrkit.phantom.solids import Vec3

__all__ = [
    "FIT_GRID_MM",
    "LIVER_SEMI_AXES_MM",
    "MIN_GAP_MM",
    "draw_lesions",
    "fit_lesions",
    "separate_lesions",
]

#: Minimum surface-to-surface distance between liver lesions after calibration (mm).
MIN_GAP_MM = 8.0

#: Reference liver semi-axes (mm) used to keep liver lesions inside the organ.
LIVER_SEMI_AXES_MM: Vec3 = (95.0, 80.0, 55.0)
_SAFETY = 0.85  # the calibrated liver may be smaller than the reference layout


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _place_in_liver(
    rng: np.random.Generator, diameter: float, placed: list[tuple[Vec3, float]]
) -> Vec3:
    """Unit-ellipsoid offset whose sphere lies inside the liver and off other lesions."""
    axes = np.asarray(LIVER_SEMI_AXES_MM) * _SAFETY
    r = diameter / 2
    for _ in range(2000):
        u = rng.uniform(-1.0, 1.0, 3)
        # The sphere fits when the centre is inside the ellipsoid shrunk by r on every axis.
        inner = axes - r
        if np.any(inner <= 0):
            break
        if float(np.sum((u * axes / inner) ** 2)) > 1.0:
            continue
        centre = u * np.asarray(LIVER_SEMI_AXES_MM)
        if all(float(np.linalg.norm(centre - np.asarray(c))) > r + d / 2 + 4.0 for c, d in placed):
            placed.append((tuple(float(v) for v in centre), diameter))  # type: ignore[arg-type]
            return (float(u[0]), float(u[1]), float(u[2]))
    raise RuntimeError(f"could not place a {diameter:.0f} mm liver lesion")  # pragma: no cover


def draw_lesions(
    seed: int,
    *,
    vertebrae: Mapping[str, Vec3],
    fdg_lesion: bool = True,
) -> tuple[LesionGeometry, ...]:
    """The lesion set of patient ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, 3])
    out: list[LesionGeometry] = []

    def add(**kw: object) -> None:
        out.append(LesionGeometry(id=f"lesion_{len(out) + 1:02d}", **kw))  # type: ignore[arg-type]

    add(
        site="pancreas",
        host="pancreas_head",
        offset_unit=(float(rng.uniform(-0.2, 0.2)), 0.0, float(rng.uniform(-0.2, 0.2))),
        diameter_mm=float(rng.uniform(22.0, 34.0)),
        fdg_positive=bool(rng.random() < 0.5),
    )
    placed: list[tuple[Vec3, float]] = []
    n_liver = int(rng.integers(3, 6))
    sizes = [float(rng.uniform(45.0, 60.0))]
    sizes += [_log_uniform(rng, 8.0, 30.0) for _ in range(n_liver - 1)]
    sizes[-1] = float(rng.uniform(8.0, 12.0))
    for i, d in enumerate(sizes):
        add(
            site="liver",
            host="liver",
            offset_unit=_place_in_liver(rng, d, placed),
            diameter_mm=d,
            fdg_positive=bool(i == 0 and rng.random() < 0.3),
        )
    d = float(rng.uniform(15.0, 25.0))
    add(
        site="liver",
        host="liver",
        offset_unit=_place_in_liver(rng, d, placed),
        diameter_mm=d,
        low_sstr=True,
    )
    # Lymph nodes relative to the aorta cylinder (semi-axes 10, 10, 155 mm at reference size).
    add(
        site="lymph_node",
        host="aorta",
        offset_unit=(2.4, -0.8, float(rng.uniform(-0.75, -0.6))),
        diameter_mm=float(rng.uniform(10.0, 20.0)),
    )
    add(
        site="lymph_node",
        host="aorta",
        offset_unit=(-2.5, -3.8, float(rng.uniform(-0.62, -0.55))),
        diameter_mm=float(rng.uniform(10.0, 20.0)),
    )
    levels = [v for v in ("L1", "L3", "T11", "T10", "L4") if v in vertebrae]
    n_bone = int(rng.integers(1, 3))
    for name in rng.choice(levels, size=min(n_bone, len(levels)), replace=False):
        c = vertebrae[str(name)]
        add(
            site="bone",
            host="",
            offset_unit=(c[0] + float(rng.uniform(-3, 3)), c[1] + float(rng.uniform(-3, 3)), c[2]),
            diameter_mm=float(rng.uniform(10.0, 16.0)),
        )
    if fdg_lesion:
        d = float(rng.uniform(15.0, 25.0))
        add(
            site="liver",
            host="liver",
            offset_unit=_place_in_liver(rng, d, placed),
            diameter_mm=d,
            sstr_positive=False,
            fdg_positive=True,
        )
    return tuple(out)


def separate_lesions(
    model: AnatomyModel, *, host: str = "liver", gap_mm: float = MIN_GAP_MM
) -> AnatomyModel:
    """Move lesions of ``host`` apart (in the calibrated organ) to a surface gap ≥ ``gap_mm``.

    Deterministic: for each pair closer than the gap, the smaller lesion moves
    away from the larger one along the line joining their centres by the
    missing distance, then back inside the host (shrunk by the lesion radius);
    repeated until no pair is too close. Lesions already far enough apart keep
    their exact position.
    """
    from dataclasses import replace

    solid = model.solid(host)
    c0 = np.asarray(solid.center_mm, dtype=float)
    axes = np.asarray(solid.semi_axes_mm, dtype=float)
    idx = [i for i, les in enumerate(model.lesions) if les.host == host]
    centre = {i: np.asarray(model.lesion_center_mm(model.lesions[i]), dtype=float) for i in idx}
    radius = {i: model.lesions[i].diameter_mm / 2 for i in idx}
    moved = False
    for _ in range(200):
        clash = False
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1 :]:
                vec = centre[b] - centre[a]
                dist = float(np.linalg.norm(vec))
                missing = radius[a] + radius[b] + gap_mm - dist
                if missing <= 1e-6:
                    continue
                clash = moved = True
                small = b if radius[b] <= radius[a] else a
                unit = vec / dist if dist > 0 else np.array([1.0, 0.0, 0.0])
                sign = 1.0 if small == b else -1.0
                centre[small] = centre[small] + sign * unit * (missing + 0.1)
                inner = axes - radius[small]
                rho = float(np.sqrt(np.sum(((centre[small] - c0) / inner) ** 2)))
                if rho > 1.0:
                    centre[small] = c0 + (centre[small] - c0) / rho
        if not clash:
            break
    else:
        from sstrkit.errors import InvalidInputError

        raise InvalidInputError(
            f"{host} lesion layout",
            expected=f"every pair of lesions >= {gap_mm} mm apart after 200 passes",
            actual="lesions still closer",
            fix="use another seed (the lesion set is drawn from it)",
        )
    if not moved:
        return model
    lesions = list(model.lesions)
    for i in idx:
        u = (centre[i] - c0) / axes
        lesions[i] = replace(lesions[i], offset_unit=(float(u[0]), float(u[1]), float(u[2])))
    return replace(model, lesions=tuple(lesions))


#: Spacing (mm) of the local grid on which :func:`fit_lesions` tests the host organs.
FIT_GRID_MM = 2.0


def fit_lesions(
    model: AnatomyModel,
    *,
    spread: bool = False,
    gap_mm: float = MIN_GAP_MM,
    grid_mm: float = FIT_GRID_MM,
) -> AnatomyModel:
    """Move liver and pancreas lesions inside their (possibly cut) host organs.

    For organs that are not ellipsoids (the stylized liver is an elliptic cylinder cut
    by an oblique plane) a centre drawn in units of the host's semi-axes can fall
    outside the organ. For every host, the organs (and bones) are painted on a local
    ``grid_mm`` grid, in the order of :meth:`AnatomyModel.paint_organs`; the distance of
    every host voxel to the nearest non-host voxel gives the positions where a lesion of
    radius r lies inside the host: distance ≥ r + ``grid_mm`` (one voxel of margin for the
    discretisation). Lesions are taken in order; each keeps its centre when allowed and
    at least ``gap_mm`` (surface to surface) from the lesions already placed in that host,
    otherwise it moves to the nearest such position (a local voxel centre). A lesion
    too large for its host (the pancreatic primary in the 2 cm thick stylized pancreas)
    is centred on the deepest point of the host nearest to its centre and bulges out.

    ``spread=True`` (freshly drawn lesions) first maps each drawn unit offset onto the
    bounding box of the host's painted region, so that the lesions spread over the organ
    rather than over its uncut quadric. Deterministic; lymph nodes and bone lesions
    (placed relative to the aorta and the vertebrae) are not moved.
    """
    from dataclasses import replace

    from scipy import ndimage

    from sstrkit.errors import InvalidInputError
    from sstrkit.phantom.anatomy import LABELS, Grid, _label_of

    hosts: list[str] = []
    for les in model.lesions:
        if les.host and les.site != "lymph_node" and les.host not in hosts:
            hosts.append(les.host)
    lesions = list(model.lesions)
    for host in hosts:
        solid = model.solid(host)
        members = [i for i, les in enumerate(lesions) if les.host == host]
        lo, hi = solid.bounds()
        pad = 2 * grid_mm
        grid = Grid.covering(
            tuple(v - pad for v in lo),  # type: ignore[arg-type]
            tuple(v + pad for v in hi),  # type: ignore[arg-type]
            (grid_mm, grid_mm, grid_mm),
        )
        mask = model.paint_organs(grid) == LABELS[_label_of(host)]
        if not mask.any():
            raise InvalidInputError(
                f"host organ {host!r}", expected="a non-empty organ", actual="0 voxels"
            )
        depth = ndimage.distance_transform_edt(mask, sampling=grid_mm)
        idx = np.argwhere(mask)  # (z, y, x)
        xs, ys, zs = grid.axes()
        pts = np.stack([xs[idx[:, 2]], ys[idx[:, 1]], zs[idx[:, 0]]], axis=1)
        d_in = depth[mask]
        box_lo, box_hi = pts.min(axis=0), pts.max(axis=0)
        placed: list[tuple[NDArray[np.float64], float]] = []
        c0 = np.asarray(solid.center_mm, dtype=float)
        axes = np.asarray(solid.semi_axes_mm, dtype=float)
        for i in members:
            les = lesions[i]
            r = les.diameter_mm / 2
            if spread:
                u = np.asarray(les.offset_unit, dtype=float)
                p0 = (box_lo + box_hi) / 2 + u * (box_hi - box_lo) / 2
            else:
                p0 = np.asarray(model.lesion_center_mm(les), dtype=float)
            need = r + grid_mm
            if not (d_in >= need).any():
                need = float(d_in.max()) - grid_mm  # too large: within a voxel of the deepest
            # Keep the centre if its sphere (plus margin) is inside and clear of the others.
            k0 = int(np.argmin(np.linalg.norm(pts - p0, axis=1)))
            off = float(np.linalg.norm(pts[k0] - p0))
            if d_in[k0] - off >= need and all(
                float(np.linalg.norm(p0 - c)) >= r + rc + gap_mm for c, rc in placed
            ):
                placed.append((p0, r))
                if spread:
                    u_new = (p0 - c0) / axes
                    lesions[i] = replace(
                        les, offset_unit=(float(u_new[0]), float(u_new[1]), float(u_new[2]))
                    )
                continue
            ok = d_in >= need
            for c, rc in placed:
                ok &= np.linalg.norm(pts - c, axis=1) >= r + rc + gap_mm
            if not ok.any():
                raise InvalidInputError(
                    f"{host} lesion layout",
                    expected=f"room for every lesion, >= {gap_mm} mm apart",
                    actual=f"no position left for {les.id} ({les.diameter_mm:.0f} mm)",
                    fix="use another seed (the lesion set is drawn from it)",
                )
            cand = pts[ok]
            p = cand[int(np.argmin(np.linalg.norm(cand - p0, axis=1)))]
            placed.append((p, r))
            u_new = (p - c0) / axes
            lesions[i] = replace(
                les, offset_unit=(float(u_new[0]), float(u_new[1]), float(u_new[2]))
            )
    return replace(model, lesions=tuple(lesions))
