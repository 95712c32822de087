"""drape: learned garment dynamics for animated virtual humans.

Importing this package is cheap: heavy dependencies (torch, anny, newton, warp)
load inside the functions that use them.
"""

__version__ = "0.1.0"
