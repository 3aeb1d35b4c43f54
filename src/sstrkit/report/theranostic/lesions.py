"""Report section: the reading lesions linked to the dosimetry VOIs by overlap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.errors import GeometryMismatchError, SstrkitError
from sstrkit.report.document import Report, TableBlock

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.study import Study


# ------------------------------------------------------------------ lesion linking
def link_lesions(
    reading_labels: NDArray[Any],
    voi_labels: NDArray[Any],
    names: Mapping[str, Sequence[int]],
) -> list[dict[str, Any]]:
    """Each reading lesion with the region of ``names`` it overlaps most.

    Parameters
    ----------
    reading_labels
        The reading's lesion label map (0 = background, lesion id = value).
    voi_labels
        The dosimetry label map on the same grid (same shape).
    names
        Region name → its label values in ``voi_labels`` (e.g. the lesion VOIs).

    Returns
    -------
    One row per reading lesion, by id: ``reading_lesion``, ``voxels`` (its
    size), ``region`` (None without overlap), ``overlap_voxels``,
    ``overlap_fraction`` = overlap / reading lesion voxels, ``region_voxels`` and
    ``dice`` = 2 · overlap / (reading lesion voxels + region voxels). The largest
    overlap wins; a tie goes to the larger Dice, then to the first name.

    Examples
    --------
    >>> import numpy as np
    >>> reading = np.array([[[1, 1, 0, 2]]])
    >>> vois = np.array([[[5, 5, 5, 0]]])
    >>> rows = link_lesions(reading, vois, {"tumour_1": [5]})
    >>> [(r["reading_lesion"], r["region"], r["overlap_voxels"], round(r["dice"], 2))
    ...  for r in rows]
    [(1, 'tumour_1', 2, 0.8), (2, None, 0, 0.0)]
    """
    a = np.asarray(reading_labels)
    b = np.asarray(voi_labels)
    if a.shape != b.shape:
        raise GeometryMismatchError(
            "lesion label maps",
            expected=f"the same shape as the reading labels {a.shape}",
            actual=f"VOI labels of shape {b.shape}",
            fix="resample the VOI label map onto the reading grid (nearest neighbour) first",
        )
    region_values = {n: np.asarray(sorted({int(v) for v in vals})) for n, vals in names.items()}
    voi_values, voi_counts = np.unique(b, return_counts=True)
    count_of = dict(zip(voi_values.tolist(), voi_counts.tolist(), strict=True))
    region_size = {
        n: int(sum(count_of.get(int(v), 0) for v in vals)) for n, vals in region_values.items()
    }
    rows: list[dict[str, Any]] = []
    for lesion_id in (int(v) for v in np.unique(a) if v != 0):
        inside = b[a == lesion_id]
        n = int(inside.size)
        vals, counts = np.unique(inside, return_counts=True)
        here = dict(zip(vals.tolist(), counts.tolist(), strict=True))
        best: tuple[int, float, str] | None = None
        for name, values in region_values.items():
            k = int(sum(here.get(int(v), 0) for v in values))
            if k == 0:
                continue
            dice = 2.0 * k / (n + region_size[name])
            if best is None or (k, dice) > (best[0], best[1]):
                best = (k, dice, name)
        k, dice, name_or_none = best if best is not None else (0, 0.0, None)
        rows.append(
            {
                "reading_lesion": lesion_id,
                "voxels": n,
                "region": name_or_none,
                "overlap_voxels": k,
                "overlap_fraction": k / n if n else 0.0,
                "region_voxels": region_size[name_or_none] if name_or_none is not None else None,
                "dice": dice,
            }
        )
    return rows


# ------------------------------------------------------------------ lesion links
def _voi_on_reading_grid(study: Study, res: RunResult, lesions: Any) -> tuple[NDArray[Any], str]:
    """The study's VOI label map on the reading's lesion grid, and how it got there."""
    src = study.label_source_for_baseline()
    pet_ct = study.series("pet_ct")
    ct = res.reading.result.ct_on_pet_grid if res.reading is not None else None
    ct_uid = pet_ct["series_uid"] if pet_ct else None
    registered = src.ct_path is not None and ct is not None and src.ct_series_uid != ct_uid
    labels = study.labels_on(lesions, ct if registered else None, ct_uid=ct_uid)
    how = (
        f"{src.description}: its CT registered (rigid) to the PET/CT, labels by nearest neighbour"
        if registered
        else f"{src.description}: resampled onto the PET grid by patient coordinates (nearest "
        "neighbour)"
    )
    return labels, how


def _lesion_links(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Reading lesions and dosimetry VOIs")
    if "reading" not in res.stages:
        sec.status = "skipped"
        sec.add_text("Not linked: the SSTR PET reading did not run.")
        return
    path = res.files.get("lesions_nifti")
    if not path or not Path(path).is_file():
        sec.status = "skipped"
        sec.add_text("Not linked: the reading's lesion label map was not written.")
        return
    from sstrkit.io.nifti import read_nifti

    try:
        rmap = study.region_map
        regions = {n: v for n, v in rmap.regions.items() if rmap.kinds.get(n) == "lesion"}
        if not regions:
            sec.add_text("The study's VOIs hold no lesion: nothing to link.")
            return
        lesions = read_nifti(path)
        voi, how = _voi_on_reading_grid(study, res, lesions)
        links = link_lesions(np.asarray(lesions.array), voi, regions)
    except (SstrkitError, OSError) as exc:
        sec.status = "partial"
        msg = exc.one_line() if isinstance(exc, SstrkitError) else f"{type(exc).__name__}: {exc}"
        sec.add_text(f"Not linked: {msg}")
        return
    organ = res.dosimetry.organ_level if res.dosimetry is not None else None
    cycles = organ.cycles if organ is not None else ()
    doses = {c.cycle: {r.name: r.dose_gy for r in c.regions} for c in cycles}
    cum: Mapping[str, float] = organ.cumulative_dose_gy if organ is not None else {}
    reading = {m.id: m for m in res.reading.result.lesions} if res.reading is not None else {}
    rows = []
    for link in links:
        le = reading.get(link["reading_lesion"])
        name = link["region"]
        rows.append(
            [
                link["reading_lesion"],
                le.organ if le is not None else None,
                le.suv_max if le is not None else None,
                le.volume_ml if le is not None else None,
                name if name is not None else "— (no dosimetry lesion VOI)",
                link["overlap_fraction"] if name is not None else None,
                link["dice"] if name is not None else None,
                *[doses[c].get(name) if name else None for c in sorted(doses)],
                cum.get(name) if name else None,
            ]
        )
    sec.add_table(
        TableBlock(
            "Each reading lesion and the dosimetry lesion VOI it overlaps most",
            [
                "reading lesion",
                "organ",
                "SUVmax",
                "volume (mL)",
                "dosimetry VOI",
                "overlap (fraction of lesion)",
                "Dice",
                *[f"dose cycle {c} (Gy)" for c in sorted(doses)],
                "cumulative (Gy)",
            ],
            rows,
            note=f"VOIs: {how}. Overlap: voxels shared with the VOI / voxels of the reading "
            "lesion; Dice = 2 × shared / (lesion + VOI voxels). Doses: the MIRD region dose "
            "of that VOI.",
        )
    )
    linked = {link["region"] for link in links}
    unlinked = [n for n in regions if n not in linked]
    if unlinked:
        sec.add_text(
            "Dosimetry lesion VOIs that no reading lesion overlaps most: "
            + ", ".join(unlinked)
            + " (below the reading's detection threshold, or merged with another lesion)."
        )
