"""Pipeline suite: synthetic documents through the processing state machine."""
