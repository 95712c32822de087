"""Errors of the garment stage."""

from drape.types import DrapeError


class GarmentError(DrapeError):
    """A garment could not be built, read or validated."""
