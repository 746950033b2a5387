"""The statistics beneath ``baseline.distribution``: rank tests, windows, control calibration."""
