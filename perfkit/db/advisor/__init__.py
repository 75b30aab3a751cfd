"""`perfkit advise-indexes`: index advice proven with hypothetical indexes.

orchestrate.py runs it (the costliest statements -> candidates -> proof -> advice);
sqlreader.py reads a statement's parse tree and candidates.py builds candidate indexes from
it, both over the shared words of perfkit/db/vocabulary.py; hypothetical.py plans with and
without HypoPG indexes (sizes.py estimates their size); costing.py caches those costs and
selection.py chooses the indexes; record.py is the advice record (`perfkit.advice/1`) and
migration_writer.py writes it as an index migration.
"""
