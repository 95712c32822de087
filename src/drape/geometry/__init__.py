"""geometry stage."""
