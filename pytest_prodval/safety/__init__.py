"""What keeps production safe, in one place.

- ``guards``: protected environments — destructive checks skipped unless allowed, recording a
  baseline only with a confirmation naming the environment, SIGTERM ending a run like Ctrl-C
  so that teardowns erase synthetic data; the plugin's own markers (``synthetic``,
  ``destructive``).
- ``database``: the session settings of the read-only database pool.
- ``load_caps``: the most load a run may put on a protected environment.
- ``redaction``: secrets out of everything prodval prints or writes, reports included.

The rest of the plugin asks these modules; none of it decides such things on its own.
"""
