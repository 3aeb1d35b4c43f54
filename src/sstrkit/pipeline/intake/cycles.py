"""Therapy cycles and time points: SPECTs grouped by administration, hours after injection.

:func:`_cycles` groups the therapy SPECT candidates by their administration time (one
cycle per administration, administrations more than :data:`CYCLE_GAP` apart are
different cycles), settles differing header times and activities within a cycle by
majority, and keeps one SPECT per time point (scans within
:data:`~sstrkit.pipeline.intake.roles.SAME_EXAM`). :func:`_cycle_numbers` numbers the
cycles after the clinical record where it numbers them. :func:`_assign_cycles` is the
step of :func:`~sstrkit.pipeline.intake.intake_study` that gives the SPECTs their role,
cycle and hours after injection.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter
from collections.abc import Sequence

from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.pipeline.intake.clinical import _Admin
from sstrkit.pipeline.intake.roles import SAME_EXAM
from sstrkit.pipeline.intake.series import _Series

#: Administrations further apart than this are different cycles.
CYCLE_GAP = _dt.timedelta(hours=24)


def _cycle_numbers(
    injections: list[_dt.datetime], admins: list[_Admin], notes: list[str]
) -> list[int]:
    """Cycle numbers of the SPECT groups: the clinical record's where it numbers them.

    A group whose injection is within 24 h of a clinical therapy administration with a
    ``cycle`` takes that number (a cycle without SPECT in the export keeps its gap);
    otherwise the groups are numbered 1..n in time order.
    """
    numbered = [a for a in admins if a.cycle is not None]
    if not numbered:
        return list(range(1, len(injections) + 1))
    out: list[int] = []
    for k, inj in enumerate(injections, start=1):
        best = min(numbered, key=lambda a: abs((a.time - inj).total_seconds()))
        if abs((best.time - inj).total_seconds()) <= CYCLE_GAP.total_seconds():
            assert best.cycle is not None
            out.append(best.cycle)
        else:
            out.append(k)
            notes.append(
                f"SPECT group injected {inj.isoformat()} matches no administration of the "
                f"clinical data within 24 h; numbered cycle {k} by time order"
            )
    if len(set(out)) != len(out):
        notes.append(
            f"clinical cycle numbers {out} repeat for the SPECT groups; numbered 1..n by time"
        )
        return list(range(1, len(injections) + 1))
    if out != list(range(1, len(out) + 1)):
        notes.append(
            f"SPECT cycles numbered {out} after the clinical record (cycles without SPECT in "
            "this export are estimated from the imaged ones)"
        )
    return out


def _cycles(
    spects: list[_Series], notes: list[str]
) -> list[tuple[_dt.datetime, float, str | None, list[_Series]]]:
    """Group therapy SPECTs by administration: (injection, activity, nuclide, time points)."""
    usable = []
    for s in spects:
        s.noted = s.injection_time is None or s.time is None or s.time <= s.injection_time
        if s.injection_time is None:
            s.reason = "therapy SPECT without administration time"
            notes.append(
                f"{s.label}: no RadiopharmaceuticalStartDateTime/StartTime in the header; "
                "ignored. Add the administration (time, nuclide, activity_bq) to the clinical "
                "data and pass --clinical"
            )
        elif s.time is None:
            s.reason = "therapy SPECT without acquisition time"
            notes.append(f"{s.label}: no series/acquisition time in the header; ignored")
        elif s.time <= s.injection_time:
            s.reason = "acquired before its administration"
            notes.append(
                f"{s.label}: acquired before the administration it names "
                f"({s.injection_time.isoformat()}); ignored"
            )
        else:
            usable.append(s)

    def inj_of(s: _Series) -> _dt.datetime:
        assert s.injection_time is not None
        return s.injection_time

    usable.sort(key=lambda s: (inj_of(s), s.t))
    groups: list[list[_Series]] = []
    for s in usable:
        if groups and inj_of(s) - inj_of(groups[-1][0]) <= CYCLE_GAP:
            groups[-1].append(s)
        else:
            groups.append([s])
    out = []
    for k, members in enumerate(groups, start=1):
        by_time = sorted(members, key=lambda s: (s.t, s.uid))
        inj_votes = Counter(inj_of(s) for s in by_time)
        top = max(inj_votes.values())
        inj = next(inj_of(s) for s in by_time if inj_votes[inj_of(s)] == top)
        acts = [s.activity_bq for s in by_time if s.activity_bq is not None]
        act_votes = Counter(acts)
        act = next(a for a in acts if act_votes[a] == max(act_votes.values())) if acts else math.nan
        if len(inj_votes) > 1:
            listing = ", ".join(f"{t.isoformat()} ({n} series)" for t, n in inj_votes.items())
            notes.append(
                f"cycle {k}: the SPECT headers give different administration times ({listing}) "
                f"within 24 h; one cycle with {inj.isoformat()} is assumed. Edit injection_time "
                "in the manifest if this is wrong"
            )
        if len(act_votes) > 1 and max(acts) - min(acts) > 0.005 * max(acts):
            listing = ", ".join(
                f"{a / BQ_PER_MBQ:g} MBq ({n} series)" for a, n in act_votes.items()
            )
            notes.append(
                f"cycle {k}: same administration, different activities in the SPECT headers "
                f"({listing}); {act / BQ_PER_MBQ:g} MBq is used. Edit injected_activity_bq in the "
                "manifest if this is wrong"
            )
        nucs = Counter(s.nuclide for s in by_time if s.nuclide)
        nuclide = nucs.most_common(1)[0][0] if nucs else None
        # time points: one per scan session; other reconstructions of it are not used
        points: list[list[_Series]] = []
        for s in by_time:
            if points and s.t - points[-1][0].t <= SAME_EXAM:
                points[-1].append(s)
            else:
                points.append([s])
        chosen = []
        for group in points:
            best = min(group, key=_Series.preference)
            chosen.append(best)
            if len(group) > 1:
                for s in group:
                    s.noted = True
                    if s is not best:
                        s.reason = f"another SPECT of the same time point as {best.label}"
                notes.append(
                    f"cycle {k}: {len(group)} SPECT series acquired within 1 h; {best.label} is "
                    "used (original, Bq/mL, most slices first); not used: "
                    + "; ".join(s.label for s in group if s is not best)
                    + ". Override with --role UID=ignore on the one not wanted"
                )
        out.append((inj, act, nuclide, chosen))
    return out


def _assign_cycles(
    series: Sequence[_Series], admins: list[_Admin], notes: list[str]
) -> _dt.datetime | None:
    """Give the therapy SPECTs their role, cycle, hours after injection and administration.

    Returns the first therapy administration (``None`` without a usable SPECT): the SSTR
    and FDG PET are chosen before it.
    """
    spect_cands = [s for s in series if s.candidate == "spect"]
    cycles = _cycles(spect_cands, notes)
    first_therapy = cycles[0][0] if cycles else None
    numbers = _cycle_numbers([c[0] for c in cycles], admins, notes)
    for k, (inj, act, nuclide, points) in zip(numbers, cycles, strict=True):
        for s in points:
            s.role, s.cycle = "spect", k
            s.hours = round((s.t - inj).total_seconds() / SECONDS_PER_HOUR, 1)
            s.injection_time, s.nuclide = inj, s.nuclide or nuclide
            if not math.isnan(act):
                s.activity_bq = act
    return first_therapy
