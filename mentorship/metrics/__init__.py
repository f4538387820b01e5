"""Prometheus metrics at /metrics (docs/operations.md, "Metrics"): request latency observed by a middleware, and
gauges read from the database and the shared limiter at scrape time."""
