"""mlsleuth: DFIR toolkit for machine-learning hosts."""

__version__ = "0.1.0"
