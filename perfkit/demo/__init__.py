"""The embedded demo stack: a real PostgreSQL, a FastAPI backend faithful to the seed's, Prometheus."""
