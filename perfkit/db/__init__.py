"""Index migrations: parse (pglast), compare with the catalog, apply safely, verify."""
