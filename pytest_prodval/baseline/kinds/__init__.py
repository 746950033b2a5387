"""The comparison kinds, one module each; ``registry`` finds them by name."""
