-- retrieval.tokenize / retrieval.tokenize_positions: the text analyzer
-- (src/tokenize/).  'icu' tokenizer: NFKC_Casefold, UAX #29 word boundaries
-- with dictionary segmentation (CJK, Thai), Snowball stemmers, PostgreSQL's
-- stopword lists; 'pg:<config>': a text search configuration.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS retrieval;
RESET client_min_messages;

-- the example of the issue: German stopword and stem, Chinese segmentation
SELECT retrieval.tokenize('Die Häuser — 机器学习是人工智能', 'german');

-- English: stemming, stopwords (positions still counted), possessives
SELECT retrieval.tokenize('The quick brown foxes jumped over the lazy dogs');
SELECT * FROM retrieval.tokenize_positions('The cat and the hat', 'english');
SELECT retrieval.tokenize('John''s cars, John’s car and the cars'' owners');
SELECT retrieval.tokenize('Running runners ran; generalizations generously', 'english');
SELECT retrieval.tokenize('Running runners ran; generalizations generously', 'simple');

-- only stopwords, empty, blanks and punctuation: no terms
SELECT retrieval.tokenize('the and of a to is', 'english') AS only_stopwords,
       retrieval.tokenize('', 'english') AS empty,
       retrieval.tokenize('   ', 'english') AS blanks,
       retrieval.tokenize('... -- !? — «» ___', 'english') AS punctuation;
-- the same words are terms in 'simple'
SELECT retrieval.tokenize('the and of a to is', 'simple');

-- punctuation and emoji are dropped, and take no position
SELECT * FROM retrieval.tokenize_positions('hello, 😀 world! 👍🏽 ok', 'simple');

-- numbers, apostrophes, hyphens, dotted abbreviations, underscores
SELECT retrieval.tokenize('3.14 1,000,000 42nd 2024-01-15 v2.0', 'simple');
SELECT retrieval.tokenize('don''t can’t O''Neil rock''n''roll', 'simple');
SELECT retrieval.tokenize('state-of-the-art well‐known e-mail', 'simple');
SELECT retrieval.tokenize('U.S.A. e.g. foo_bar snake_case_name', 'simple');

-- NFKC case folding: full-width letters and digits, ligatures, superscripts,
-- circled digits, Roman numerals, composed vs decomposed accents, ß
SELECT retrieval.tokenize('ＦＵＬＬ－ｗｉｄｔｈ １２３', 'simple');
SELECT retrieval.tokenize('ﬁnance ﬂow ﬀ', 'simple');
SELECT retrieval.tokenize('x² H₂O E=mc² ①②', 'simple');
SELECT retrieval.tokenize(E'Ⅻ CAFÉ caf\u00E9 cafe\u0301', 'simple');   -- composed, decomposed
SELECT retrieval.tokenize('ﬁnancial', 'english') = retrieval.tokenize('FINANCIAL', 'english') AS ligature_folds;
-- soft hyphen and zero-width joiner do not split a word
SELECT retrieval.tokenize(E'co\u00ADoperation zero\u200Bwidth', 'simple');

-- German: umlauts, ß (folded to ss, as in the stopword list: "daß" is one)
SELECT retrieval.tokenize('Die Straße, STRASSE und die Häuser; daß Fußgänger über Brücken gehen', 'german');
SELECT retrieval.tokenize('Mädchen Bäume Öfen Übungen', 'german');

-- other stemmed languages
SELECT retrieval.tokenize('Les enfants jouaient dans les jardins', 'french');
SELECT retrieval.tokenize('Los niños estaban jugando en los jardines', 'spanish');
SELECT retrieval.tokenize('I bambini giocavano nei giardini', 'italian');
SELECT retrieval.tokenize('As crianças brincavam nos jardins', 'portuguese');
SELECT retrieval.tokenize('De kinderen speelden in de tuinen', 'dutch');
SELECT retrieval.tokenize('Дети играли в садах', 'russian');
SELECT retrieval.tokenize('Barnen lekte i trädgårdarna', 'swedish');
SELECT retrieval.tokenize('Barna lekte i hagene', 'norwegian');
SELECT retrieval.tokenize('Børnene legede i haverne', 'danish');
SELECT retrieval.tokenize('Lapset leikkivät puutarhoissa', 'finnish');

-- Chinese, Japanese, Thai: dictionary segmentation, no stemming
SELECT retrieval.tokenize('机器学习是人工智能的一个分支', 'chinese');
SELECT retrieval.tokenize('東京都に住んでいます。ｶﾀｶﾅ', 'japanese');
SELECT retrieval.tokenize('ภาษาไทยง่ายนิดเดียว', 'thai');
-- segmentation does not depend on the language name
SELECT retrieval.tokenize('机器学习', 'english') = retrieval.tokenize('机器学习', 'chinese') AS same_segments;
-- mixed scripts keep positions in text order
SELECT * FROM retrieval.tokenize_positions('BM25 排序 ranking 函数', 'english');

-- the 'pg:' tokenizer: a text search configuration does everything
SELECT retrieval.tokenize('The cat and the hats', 'english', 'pg:english');
SELECT * FROM retrieval.tokenize_positions('The cat and the hats', 'english', 'pg:english');
SELECT to_tsvector('english', 'The cat and the hats');   -- same terms, positions 1-based there
SELECT retrieval.tokenize('The cat and the hats', 'simple', 'pg:pg_catalog.simple');
SELECT retrieval.tokenize('Some URL http://example.com/a?b=1 and foo@example.org', 'english', 'pg:english');
-- same terms and (1-based) positions as to_tsvector on texts that exercise
-- the default parser's token types (hyphenated words and their parts, URLs,
-- e-mail, versions, XML tags, numbers); expect only text 5: to_tsvector
-- skips words of 2,047 bytes or more (with a NOTICE), tokenize does not
CREATE TEMP TABLE ts_samples (id int, body text);
INSERT INTO ts_samples VALUES
  (1, 'State-of-the-art self-driving cars, e-mail me at foo.bar@example.org'),
  (2, 'See https://www.postgresql.org/docs/15/textsearch.html?x=1#y or /usr/local/bin'),
  (3, '<p class="x">Version 15.4.1, -42, +3.5e10 and 1,000 items</p> &amp; more'),
  (4, 'The the THE running ran runs; Über naïve café façade'),
  (5, 'x' || repeat('y', 3000) || ' after a 3,001-byte word, which to_tsvector skips');
WITH a AS (
  SELECT id, u.lexeme AS term, u.positions::int[] AS pos
  FROM ts_samples, unnest(to_tsvector('english', body)) u
), b AS (
  SELECT id, t.term, array_agg(t.position + 1 ORDER BY t.position) AS pos
  FROM ts_samples, retrieval.tokenize_positions(body, 'english', 'pg:english') t
  GROUP BY id, t.term
)
SELECT id, left(term, 10) AS term, a.pos AS ts_pos, b.pos
FROM a FULL JOIN b USING (id, term) WHERE a.pos IS DISTINCT FROM b.pos;

-- a text of more than 1 MB is analysed whole: exact count, term frequency
-- far above 255, positions far above 16,383 (tsvector's cap), both tokenizers
CREATE TEMP TABLE big AS SELECT repeat('Running foxes and 42 dogs. ', 50000) AS t;
SELECT octet_length(t) > 1024 * 1024 AS over_1mb FROM big;
SELECT array_length(retrieval.tokenize(t), 1) AS nterms FROM big;
SELECT term, count(*), min(position), max(position)
FROM big, retrieval.tokenize_positions(t) GROUP BY term ORDER BY term;
SELECT term, count(*), max(position)
FROM big, retrieval.tokenize_positions(t, 'english', 'pg:english') GROUP BY term ORDER BY term;

-- STRICT: NULL in, NULL out
SELECT retrieval.tokenize(NULL) IS NULL AS null_text,
       retrieval.tokenize('x', NULL) IS NULL AS null_language;

-- invalid names: the error, then its SQLSTATE
SELECT retrieval.tokenize('x', 'klingon');
SELECT retrieval.tokenize('x', 'English');
SELECT retrieval.tokenize('x', 'english', 'lucene');
SELECT retrieval.tokenize('x', 'english', 'pg:no_such_config');
SELECT retrieval.tokenize('x', 'english', 'pg:');
SELECT retrieval.tokenize('x', 'english', 'pg:a.b.c');
SELECT retrieval.tokenize('x', 'klingon', 'pg:english');   -- language validated even for pg:
\set VERBOSITY sqlstate
SELECT retrieval.tokenize('x', 'klingon');
SELECT retrieval.tokenize('x', 'english', 'lucene');
SELECT retrieval.tokenize('x', 'english', 'pg:no_such_config');
\set VERBOSITY default

-- a failed lookup leaves nothing behind: the valid pair still works
SELECT retrieval.tokenize('Houses', 'english');

-- usable in an index expression (IMMUTABLE)
CREATE TEMP TABLE docs (body text);
INSERT INTO docs VALUES ('Cats chase mice'), ('Dogs chase cats');
CREATE INDEX ON docs USING gin (retrieval.tokenize(body));
SELECT body FROM docs WHERE retrieval.tokenize(body) @> ARRAY['cat', 'dog'] ORDER BY body;
