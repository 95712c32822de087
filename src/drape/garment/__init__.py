"""Garment stage: sewing-pattern templates, import, UV atlas, weight transfer."""

from drape.garment.errors import GarmentError
from drape.garment.io import import_garment, load_garment, save_garment, write_obj
from drape.garment.templates import garment_library, make_garment
from drape.garment.weights import transfer_weights

__all__ = [
    "GarmentError",
    "garment_library",
    "import_garment",
    "load_garment",
    "make_garment",
    "save_garment",
    "transfer_weights",
    "write_obj",
]
