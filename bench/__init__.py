"""``make bench``: throughput and latency of both services, instrumentation on and off.

``python -m bench`` starts the services natively (``slolab serve``) on free loopback
ports, drives them with wrk and writes the results into docs/benchmarks.md.
"""
