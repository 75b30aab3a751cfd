"""Index migrations read (pglast), compared with the catalog, applied safely, verified;
the index advisor (advisor/) and the schema linter (lint/) over the same catalog."""
