"""A lesion that an automatic organ outline left out takes the organ around it.

An automatic liver outline keeps hot foci out of the organ (they are lesions, not
parenchyma) and fills holes, so a metastasis at the liver's edge is not inside the
outline: most of its voxels are ``body``. Reference (geometry of the hand-made maps
below): a 12-voxel cube lesion cut into the liver's edge has a one-voxel shell that is
5 of 6 faces liver (> half), so its organ is the liver; the same lesion in the middle of
``body`` has no organ around it and stays ``body``; with *supplied* labels nothing
changes (a site's labels are taken as they are).
"""

from __future__ import annotations

import numpy as np

from sstrkit.core.volume import Volume
from sstrkit.reading.organs import OrganMap
from sstrkit.reading.patterns import split_and_flag
from sstrkit.reading.segmentation_settings import LesionRegion, SegmentationSettings

LIVER, BODY = 1, 13
NAMES = {LIVER: "liver", BODY: "body"}


def _maps(at_edge: bool) -> tuple[np.ndarray, np.ndarray]:
    organs = np.full((40, 40, 40), BODY, np.int32)
    organs[5:35, 5:35, 5:25] = LIVER
    lesion = np.zeros(organs.shape, np.int32)
    if at_edge:  # bites into the liver's x = 24 face; the outline left the bite out
        lesion[14:26, 14:26, 19:25] = 1
        organs[14:26, 14:26, 19:25] = BODY
    else:
        lesion[14:26, 14:26, 29:35] = 1  # in body, 5 voxels from the liver
    return organs, lesion


def _organ(at_edge: bool, source: str) -> str:
    organs, lesion = _maps(at_edge)
    suv = Volume.from_array(np.ones(organs.shape), spacing=(4.0, 4.0, 4.0), unit="g/mL")
    omap = OrganMap(organs, NAMES, source=source)
    _, regions = split_and_flag(
        lesion,
        [LesionRegion(1, "other", "auto", 5.0, 1.0)],
        omap,
        suv,
        SegmentationSettings(),
    )
    assert len(regions) == 1
    return regions[0].organ


def test_an_edge_lesion_left_out_of_the_automatic_liver_is_a_liver_lesion() -> None:
    assert _organ(at_edge=True, source="automatic") == "liver"


def test_a_lesion_in_body_away_from_organs_stays_body() -> None:
    assert _organ(at_edge=False, source="automatic") == "body"


def test_supplied_labels_are_taken_as_they_are() -> None:
    assert _organ(at_edge=True, source="supplied") == "body"
