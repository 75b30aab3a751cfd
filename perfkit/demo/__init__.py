"""The embedded demo stack: a real PostgreSQL, a backend faithful to the seed's, Prometheus."""
