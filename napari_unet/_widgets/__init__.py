"""The dock widgets, one module each."""
