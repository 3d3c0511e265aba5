-- Load the PostgreSQL documentation (Debian's postgresql-doc-15) into a
-- table: one row per HTML page, with its title and its text without markup.
-- Reads server files, so it runs as the superuser of the demo cluster.
\set ON_ERROR_STOP on

CREATE TABLE docs (
	id serial PRIMARY KEY,
	page text NOT NULL UNIQUE,
	title text NOT NULL,
	body text NOT NULL
);

INSERT INTO docs (page, title, body)
SELECT page,
       coalesce(substring(html FROM '<title>(.*?)</title>'), page),
       replace(replace(replace(replace(replace(
           regexp_replace(regexp_replace(html, '^.*?<body[^>]*>', '', 's'), '<[^>]+>', ' ', 'g'),
           '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&nbsp;', ' '), '&amp;', '&')
FROM (SELECT page, pg_read_file(:'docdir' || '/' || page) AS html
      FROM pg_ls_dir(:'docdir') AS page
      WHERE page LIKE '%.html'
      ORDER BY page) pages;
