-- retrieval 0.1.0 -> 0.2.0
--
-- 0.1.0 is the released base script; CREATE EXTENSION retrieval installs
-- 0.2.0 by running it and then this script, so a fresh install and an
-- upgraded one are the same objects by construction.  Every object is
-- qualified with @extschema@ (or the retrieval API schema created by the
-- base script); test/lint-install-script.sh checks it.
--
-- One section per subsystem, each between its own markers.

\echo Use "ALTER EXTENSION retrieval UPDATE TO '0.2.0'" to load this file. \quit

-- ---- tokenize: text analysis (src/tokenize/) ----
-- ---- end tokenize ----

-- ---- bm25: the inverted index on text columns (src/bm25/) ----
-- ---- end bm25 ----

-- ---- hnsw: quantization and storage (src/hnsw/) ----
-- ---- end hnsw ----

-- ---- embed: named models (src/embed/) ----
-- ---- end embed ----
