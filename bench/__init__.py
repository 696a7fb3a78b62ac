"""Benchmarks of DESIGN §7 (issue 10): ``python -m bench`` (``make bench``); see ``bench/RESULTS.md``."""
