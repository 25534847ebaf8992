"""Kaskade's benchmark: the four-hop pipeline against a pass-through ceiling and a naive baseline.

Run it with `make bench` (or `python -m bench` from the repo root with deploy/local/env.sh
loaded). Knobs are environment variables, read in `bench.config`.
"""
