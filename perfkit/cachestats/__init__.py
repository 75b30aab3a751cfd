"""`perfkit cache-stats`: a cache's hit ratio, per key family from its log lines (logs.py,
which also holds the record, `perfkit.cache-stats/1`) or over a window from Redis's own
counters (redis.py)."""
