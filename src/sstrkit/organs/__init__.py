"""Organ VOIs from the images themselves: offline CT (+ PET/SPECT) organ segmentation.

Public entry point: :func:`sstrkit.organs.segment.segment_organs` → :class:`OrganSegmentation`.
"""
