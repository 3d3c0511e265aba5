-- The main job's searches over the PostgreSQL documentation: BM25 through
-- the retrieval index on a text expression (<@>), the same index's
-- embeddings fused with BM25 (<=>) and alone (<~>), then the vector side:
-- hashed TF-IDF vectors (lexemes from PostgreSQL's english text search
-- configuration hashed into 1024 signed buckets, L2-normalised) searched
-- exactly and through an HNSW index, and semantic search with embeddings
-- computed inside the backend (retrieval.embed).  The same text index also
-- keeps an FM-index of the text (ngrams = on): exact n-gram counts, the
-- continuations constrained decoding needs, and SEAL-style ranking (<%>).
\set ON_ERROR_STOP on
\pset footer off

\echo
\echo == corpus
SELECT count(*) AS pages, pg_size_pretty(sum(length(body))::bigint) AS text FROM docs;

\echo
\echo == one retrieval index on the expression title || body: BM25 (ICU words, english stemming and
\echo    stopwords), an HNSW graph over USE-lite embeddings of every page and an FM-index of the text,
\echo    made by CREATE INDEX
\timing on
CREATE INDEX docs_text_idx ON docs USING retrieval ((title || ' ' || body)) WITH (language = 'english', ngrams = on);
\timing off
SELECT documents, round(avg_length::numeric, 1) AS avg_length, segments, segment_terms AS terms,
       pg_size_pretty(pg_relation_size('docs_text_idx')) AS index_size
FROM retrieval.index_stats('docs_text_idx');
SELECT retrieval.tokenize('Creating indexes concurrently, without locking out writes') AS analyzed_query;
EXPLAIN (COSTS OFF) SELECT title FROM docs ORDER BY (title || ' ' || body) <@> 'concurrent index' LIMIT 5;
\timing on
SELECT title, round(((title || ' ' || body) <@> 'create index concurrently without locking writes')::numeric, 3) AS bm25
FROM docs ORDER BY (title || ' ' || body) <@> 'create index concurrently without locking writes' LIMIT 5;
SELECT title, round(((title || ' ' || body) <@> 'streaming replication standby')::numeric, 3) AS bm25
FROM docs ORDER BY (title || ' ' || body) <@> 'streaming replication standby' LIMIT 5;
\echo   filtered (the scan keeps going in score order until 5 rows pass the WHERE clause):
SELECT title, round(((title || ' ' || body) <@> 'vacuum dead tuples')::numeric, 3) AS bm25
FROM docs WHERE page LIKE 'sql-%' ORDER BY (title || ' ' || body) <@> 'vacuum dead tuples' LIMIT 5;
\timing off
\echo   the same score for one row, without the index (a sequential computation):
SELECT title, round(((title || ' ' || body) <@> 'vacuum dead tuples')::numeric, 3) AS bm25
FROM docs WHERE page = 'sql-vacuum.html';

\echo
\echo == hybrid: <=> fuses normalised BM25 with the cosine similarity of the embeddings (same index),
\echo    <~> ranks by the embeddings alone; BM25, fused and semantic top 5 side by side
EXPLAIN (COSTS OFF) SELECT title FROM docs ORDER BY (title || ' ' || body) <=> 'make queries faster' LIMIT 5;
CREATE FUNCTION side_by_side(q text) RETURNS TABLE (rank bigint, bm25 text, fused text, semantic text)
LANGUAGE sql AS $$
	SELECT b.rank, b.title, f.title, s.title FROM
	  (SELECT row_number() OVER () AS rank, title FROM
	     (SELECT title FROM docs ORDER BY (title || ' ' || body) <@> retrieval.bm25_query(q, 'docs_text_idx') LIMIT 5) x) b
	  FULL JOIN (SELECT row_number() OVER () AS rank, title FROM
	     (SELECT title FROM docs ORDER BY (title || ' ' || body) <=> retrieval.bm25_query(q, 'docs_text_idx') LIMIT 5) y) f USING (rank)
	  FULL JOIN (SELECT row_number() OVER () AS rank, title FROM
	     (SELECT title FROM docs ORDER BY (title || ' ' || body) <~> retrieval.bm25_query(q, 'docs_text_idx') LIMIT 5) z) s USING (rank)
	  ORDER BY 1
$$;
\timing on
SELECT * FROM side_by_side('make queries faster');
SELECT * FROM side_by_side('how do I copy a database to another server');
SELECT * FROM side_by_side('who is allowed to read this table');
\echo   one fused query alone:
SELECT title, round(((title || ' ' || body) <=> 'streaming replication standby')::numeric, 3) AS fused
FROM docs ORDER BY (title || ' ' || body) <=> 'streaming replication standby' LIMIT 5;
\timing off

\echo
\echo == n-grams (FM-index in the same index): exact counts, next characters, SEAL ranking
SELECT mode, documents, pg_size_pretty(symbols) AS text, pg_size_pretty(segment_bytes) AS fm_index
FROM retrieval.ngram_stats('docs_text_idx');
\timing on
SELECT n AS ngram, retrieval.ngram_count('docs_text_idx', n) AS occurrences
FROM unnest(ARRAY['VACUUM', 'VACUUM FULL', 'pg_stat_activity', 'write-ahead log']) n;
\echo   what may follow 'pg_stat_' (constrained decoding: only continuations that occur):
SELECT * FROM retrieval.ngram_next('docs_text_idx', 'pg_stat_', k => 8);
\echo   pages ranked by the longest phrases of the query that occur in the corpus (<%>):
SELECT title, round(((title || ' ' || body) <%> 'how to reclaim disk space after a large delete')::numeric, 2) AS seal
FROM docs ORDER BY (title || ' ' || body) <%> 'how to reclaim disk space after a large delete' LIMIT 5;
\timing off

\echo
\echo == building hashed TF-IDF vectors (vector(1024)) for every page
\timing off
CREATE TABLE doc_terms AS
	SELECT d.id, t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf
	FROM docs d, unnest(to_tsvector('english', d.title || ' ' || d.body)) t;
CREATE TABLE idf AS
	SELECT lexeme, ln((SELECT count(*) FROM docs)::float8 / count(*)) AS idf
	FROM doc_terms GROUP BY lexeme;
CREATE UNIQUE INDEX ON idf (lexeme);

-- hashed, signed TF-IDF over an array of (lexeme, tf) pairs -> vector(1024)
CREATE FUNCTION hashed_tfidf(lexemes text[], tfs int[]) RETURNS vector(1024)
LANGUAGE sql STABLE AS $$
	SELECT l2_normalize(array_agg(coalesce(w, 0) ORDER BY b)::real[]::vector(1024))
	FROM generate_series(0, 1023) b
	LEFT JOIN (
		SELECT (hashtext(l) & 1023) AS bucket,
		       sum(CASE WHEN hashtext(l || '#') & 1 = 0 THEN 1 ELSE -1 END
		           * (1 + ln(tf)) * coalesce(i.idf, 0)) AS w
		FROM unnest(lexemes, tfs) u(l, tf) LEFT JOIN idf i ON i.lexeme = u.l
		GROUP BY 1
	) weights ON weights.bucket = b
$$;

CREATE FUNCTION query_vector(q text) RETURNS vector(1024) LANGUAGE sql STABLE AS $$
	SELECT hashed_tfidf(array_agg(lexeme), array_agg(coalesce(array_length(positions, 1), 1)))
	FROM unnest(to_tsvector('english', q))
$$;

ALTER TABLE docs ADD COLUMN embedding vector(1024);
\timing on
UPDATE docs d SET embedding = hashed_tfidf(t.lexemes, t.tfs)
FROM (SELECT id, array_agg(lexeme) lexemes, array_agg(tf) tfs FROM doc_terms GROUP BY id) t
WHERE t.id = d.id;
\timing off
SELECT count(embedding) AS pages_with_vectors, max(vector_dims(embedding)) AS dims,
       round(avg(vector_norm(embedding))::numeric, 3) AS mean_norm
FROM docs;

\echo
\echo == search: exact top 5 by cosine distance (ORDER BY embedding <=> query LIMIT 5)
\timing on
\timing off
SELECT query_vector('create an index without locking out writes') AS q \gset
\timing on
SELECT title, round((embedding <=> :'q')::numeric, 3) AS distance
FROM docs ORDER BY embedding <=> :'q' LIMIT 5;

\timing off
SELECT query_vector('streaming replication standby server') AS q \gset
\timing on
SELECT title, round((embedding <=> :'q')::numeric, 3) AS distance
FROM docs ORDER BY embedding <=> :'q' LIMIT 5;

\timing off
SELECT query_vector('vacuum reclaims space from dead tuples') AS q \gset
\timing on
SELECT title, round((embedding <=> :'q')::numeric, 3) AS distance
FROM docs ORDER BY embedding <=> :'q' LIMIT 5;

\echo
\echo == more like this: pages nearest to "CREATE INDEX" (L2 distance <->)
SELECT d.title, round((d.embedding <-> s.embedding)::numeric, 3) AS l2
FROM docs d, (SELECT embedding FROM docs WHERE page = 'sql-createindex.html') s
WHERE d.page <> 'sql-createindex.html'
ORDER BY d.embedding <-> s.embedding LIMIT 5;

\echo
\echo == centroid: avg(vector) of the SQL command reference, and the pages nearest to it
SELECT d.title, round((d.embedding <=> c.centroid)::numeric, 3) AS distance
FROM docs d, (SELECT avg(embedding) AS centroid FROM docs WHERE page LIKE 'sql-%') c
ORDER BY d.embedding <=> c.centroid LIMIT 5;
\timing off

\echo
\echo == an HNSW index (USING retrieval ... vector_cosine_ops) for the same searches
\timing on
CREATE INDEX docs_embedding_idx ON docs USING retrieval (embedding vector_cosine_ops);
\timing off
SELECT pg_size_pretty(pg_relation_size('docs_embedding_idx')) AS index_size;
PREPARE search(vector) AS SELECT title FROM docs ORDER BY embedding <=> $1 LIMIT 5;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE search(NULL);
RESET plan_cache_mode;
\timing on
\timing off
SELECT query_vector('streaming replication standby server') AS q \gset
\timing on
SELECT title, round((embedding <=> :'q')::numeric, 3) AS distance
FROM docs ORDER BY embedding <=> :'q' LIMIT 5;
\timing off

\echo
\echo == filtered: only the SQL command reference pages (the index scan keeps going until 5 match)
\timing on
\timing off
SELECT query_vector('remove rows from a table') AS q \gset
\timing on
SELECT title, round((embedding <=> :'q')::numeric, 3) AS distance
FROM docs WHERE page LIKE 'sql-%' ORDER BY embedding <=> :'q' LIMIT 5;
\timing off

\echo
\echo == semantic search: retrieval.embed() (Universal Sentence Encoder Lite, inside the backend)
\echo    embedding the title and opening text of every page, then an HNSW index on the embeddings
ALTER TABLE docs ADD COLUMN semantic vector(512);
\timing on
UPDATE docs SET semantic = retrieval.embed(title || '. ' || left(regexp_replace(body, '\s+', ' ', 'g'), 400));
CREATE INDEX docs_semantic_idx ON docs USING retrieval (semantic vector_cosine_ops);
\timing off
\timing on
SELECT title, round((semantic <=> retrieval.embed('how do I copy a database to another server')) ::numeric, 3) AS distance
FROM docs ORDER BY semantic <=> retrieval.embed('how do I copy a database to another server') LIMIT 5;
SELECT title, round((semantic <=> retrieval.embed('make queries faster')) ::numeric, 3) AS distance
FROM docs ORDER BY semantic <=> retrieval.embed('make queries faster') LIMIT 5;
SELECT title, round((semantic <=> retrieval.embed('who is allowed to read this table')) ::numeric, 3) AS distance
FROM docs ORDER BY semantic <=> retrieval.embed('who is allowed to read this table') LIMIT 5;
\timing off

\echo
\echo == SIMD distance kernels of this CPU
SELECT * FROM distance_kernels();
