-- The n-gram (FM-index) index: byte mode on a text index WITH (ngrams = on),
-- token mode on int4[] with ngram_ops (src/ngram/).  Exact counts,
-- continuations, documents, SEAL scores, maintenance, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

CREATE TABLE ng_docs (id int PRIMARY KEY, body text);
INSERT INTO ng_docs VALUES
	(1, 'the light reaction of photosynthesis'),
	(2, 'chlorophyll absorbs light'),
	(3, 'photosynthesis makes energy from light and water'),
	(4, 'banana bandana'),
	(5, ''),
	(6, NULL),
	(7, 'café crème 中文 light');
CREATE INDEX ng_docs_idx ON ng_docs USING retrieval (body) WITH (ngrams = on, model = 'none');
SELECT * FROM retrieval.ngram_stats('ng_docs_idx');

-- counts: overlapping, within documents only, UTF-8 substrings
SELECT n, retrieval.ngram_count('ng_docs_idx', n) FROM unnest(ARRAY[
	'light', 'ana', 'an', 'a', 'photosynthesis', 'light and', 'lightx', 'é', 'café crème',
	'中文', '中', 'sislight', 'water', 'r', '']) AS n;

-- continuations: next characters, count desc then bytes
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'light');
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'ban');
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'a', k => 3);
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'caf');
SELECT * FROM retrieval.ngram_next('ng_docs_idx', '中');
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'zzz');
SELECT count(*), sum(count) FROM retrieval.ngram_next('ng_docs_idx', '');

-- documents (visible rows only)
SELECT d.id, n.occurrences FROM retrieval.ngram_docs('ng_docs_idx', 'an') n
	JOIN ng_docs d ON d.ctid = n.ctid ORDER BY d.id;
SELECT d.id FROM retrieval.ngram_docs('ng_docs_idx', 'light') n
	JOIN ng_docs d ON d.ctid = n.ctid ORDER BY d.id;

-- SEAL: weights from counts, intersective scoring; the per-row operator,
-- the index scan and seal_search agree
SELECT d.id, round(s.score::numeric, 6) AS score
	FROM retrieval.seal_search('ng_docs_idx', ARRAY['light reaction', 'chlorophyll', 'light']) s
	JOIN ng_docs d ON d.ctid = s.ctid ORDER BY s.score DESC, d.id;
SELECT d.id, round(s.score::numeric, 6) AS score
	FROM retrieval.seal_search('ng_docs_idx', ARRAY['light', 'water', 'banana'],
		logprobs => ARRAY[-0.1, -2.0, -0.5]) s
	JOIN ng_docs d ON d.ctid = s.ctid ORDER BY s.score DESC, d.id;
SELECT id, round((body <%> 'light reaction of water')::numeric, 6) AS d FROM ng_docs ORDER BY 2, 1;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ng_docs ORDER BY body <%> 'light reaction of water' LIMIT 3;
SELECT id, round((body <%> 'light reaction of water')::numeric, 6) AS d
	FROM ng_docs ORDER BY body <%> 'light reaction of water' LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM ng_docs ORDER BY body <%> ARRAY['light', 'banana'] LIMIT 3;
SELECT id FROM ng_docs ORDER BY body <%> ARRAY['light', 'banana'] LIMIT 3;
-- filters keep the LIMIT: rows the filter rejects are skipped, the next ones taken
EXPLAIN (COSTS OFF) SELECT id FROM ng_docs WHERE id <> 1 ORDER BY body <%> 'light' LIMIT 2;
SELECT id FROM ng_docs WHERE id <> 1 ORDER BY body <%> 'light' LIMIT 2;
RESET enable_seqscan;

-- inserts go to the write buffer, searched directly
INSERT INTO ng_docs VALUES (8, 'light reaction again'), (9, 'bandana light');
SELECT segments, buffered_documents, documents FROM retrieval.ngram_stats('ng_docs_idx');
SELECT retrieval.ngram_count('ng_docs_idx', 'light'), retrieval.ngram_count('ng_docs_idx', 'bandana');
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'light ');
SELECT d.id FROM retrieval.ngram_docs('ng_docs_idx', 'reaction') n
	JOIN ng_docs d ON d.ctid = n.ctid ORDER BY d.id;

-- deleted rows: hidden from row results at once, out of the counts after VACUUM
DELETE FROM ng_docs WHERE id IN (1, 9);
SELECT d.id FROM retrieval.ngram_docs('ng_docs_idx', 'light') n
	JOIN ng_docs d ON d.ctid = n.ctid ORDER BY d.id;
SELECT retrieval.ngram_count('ng_docs_idx', 'light');
VACUUM ng_docs;
SELECT retrieval.ngram_count('ng_docs_idx', 'light'), retrieval.ngram_count('ng_docs_idx', 'bandana');
SELECT segments, buffered_documents, documents FROM retrieval.ngram_stats('ng_docs_idx');
UPDATE ng_docs SET body = 'photosynthesis again' WHERE id = 3;
VACUUM ng_docs;
SELECT retrieval.ngram_count('ng_docs_idx', 'photosynthesis'), retrieval.ngram_count('ng_docs_idx', 'again');
REINDEX INDEX ng_docs_idx;
SELECT retrieval.ngram_count('ng_docs_idx', 'photosynthesis'), retrieval.ngram_count('ng_docs_idx', 'again');

-- token mode
CREATE TABLE ng_toks (id int, t int[]);
INSERT INTO ng_toks VALUES (1, ARRAY[5,6,7,5,6]), (2, ARRAY[6,7,8]), (3, '{}'), (4, NULL),
	(5, ARRAY[100000, 6, 7]);
CREATE INDEX ng_toks_idx ON ng_toks USING retrieval (t ngram_ops);
SELECT * FROM retrieval.ngram_stats('ng_toks_idx');
SELECT retrieval.ngram_count('ng_toks_idx', ARRAY[6,7]), retrieval.ngram_count('ng_toks_idx', ARRAY[5,6]),
	retrieval.ngram_count('ng_toks_idx', ARRAY[7,5,6]), retrieval.ngram_count('ng_toks_idx', ARRAY[9]),
	retrieval.ngram_count('ng_toks_idx', '{}'::int[]);
SELECT * FROM retrieval.ngram_next('ng_toks_idx', ARRAY[6]);
SELECT * FROM retrieval.ngram_next('ng_toks_idx', '{}'::int[], k => 2);
SELECT * FROM retrieval.ngram_next('ng_toks_idx', ARRAY[6], candidates => ARRAY[7, 9, 7, 8]);
SELECT i.id, n.occurrences FROM retrieval.ngram_docs('ng_toks_idx', ARRAY[5,6]) n
	JOIN ng_toks i ON i.ctid = n.ctid ORDER BY i.id;
INSERT INTO ng_toks VALUES (6, ARRAY[6,7,5]);
SELECT retrieval.ngram_count('ng_toks_idx', ARRAY[7,5]);
SELECT i.id, round(s.score::numeric, 6) FROM retrieval.seal_search('ng_toks_idx', ARRAY[7,5,-1,8,-1,100000]) s
	JOIN ng_toks i ON i.ctid = s.ctid ORDER BY s.score DESC, i.id;

-- 4-byte characters come back whole
CREATE TABLE ng_emoji (body text);
INSERT INTO ng_emoji VALUES ('x😀y'), ('a🎉'), ('x😀z');
CREATE INDEX ng_emoji_idx ON ng_emoji USING retrieval (body) WITH (ngrams = on, model = 'none');
SELECT next, convert_to(next, 'UTF8'), count FROM retrieval.ngram_next('ng_emoji_idx', 'x');
SELECT next, convert_to(next, 'UTF8'), count FROM retrieval.ngram_next('ng_emoji_idx', '', k => 2);

-- unlogged tables
CREATE UNLOGGED TABLE ng_unlogged (body text);
INSERT INTO ng_unlogged VALUES ('alpha beta'), ('beta gamma');
CREATE INDEX ON ng_unlogged USING retrieval (body) WITH (ngrams = on, model = 'none');
SELECT retrieval.ngram_count('ng_unlogged_body_idx', 'beta');

-- errors
SELECT retrieval.ngram_count('ng_toks_idx', 'light');
SELECT retrieval.ngram_count('ng_docs_idx', ARRAY[1]);
CREATE TABLE ng_plain (body text);
INSERT INTO ng_plain VALUES ('x');
CREATE INDEX ng_plain_idx ON ng_plain USING retrieval (body) WITH (model = 'none');
SELECT retrieval.ngram_count('ng_plain_idx', 'x');
SELECT body FROM ng_plain ORDER BY body <%> 'x' LIMIT 1;
SELECT retrieval.ngram_count('ng_docs', 'x');
INSERT INTO ng_toks VALUES (7, ARRAY[-1]);
INSERT INTO ng_toks VALUES (7, ARRAY[1, NULL]);
INSERT INTO ng_toks VALUES (7, ARRAY[[1,2],[3,4]]);
SELECT * FROM retrieval.seal_search('ng_docs_idx', ARRAY['light'], logprobs => ARRAY[-1.0, -2.0]);
SELECT * FROM retrieval.seal_search('ng_docs_idx', ARRAY['light'], logprobs => ARRAY[0.5]);
SELECT * FROM retrieval.ngram_next('ng_docs_idx', 'light', k => 0);
SELECT * FROM retrieval.ngram_docs('ng_docs_idx', '');
SELECT id FROM ng_toks ORDER BY t LIMIT 1;

DROP TABLE ng_docs, ng_toks, ng_unlogged, ng_plain, ng_emoji;
