"""Developer tooling: run the four services as local processes (demo, end-to-end tests, benchmark)."""
