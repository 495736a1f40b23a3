"""Versioned screening catalogues (``signals-<version>.json``): data, not code, so new signals need no release."""
