"""Load under Locust, run in a subprocess: the ``prodval_load`` fixture, profile and caps,
driver, raw samples, progress, chart.

Nothing here imports Locust: it runs as ``python -m locust`` so that its gevent patching
never enters the pytest process.
"""
