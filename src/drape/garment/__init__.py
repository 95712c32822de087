"""garment stage."""
