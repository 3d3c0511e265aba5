/*-------------------------------------------------------------------------
 *
 * embed_json.h
 *	  Reading the JSON files of model directories (config.json,
 *	  tokenizer.json, safetensors headers) with PostgreSQL's own jsonb.
 *
 * Parsing is jsonb_in's; this file owns the file reading, the error
 * context that names the file, and typed accessors that turn a missing or
 * mistyped field into a clean ERROR (XX001) instead of a crash.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_JSON_H
#define RETRIEVAL_EMBED_JSON_H

#include "postgres.h"

#include "utils/jsonb.h"

/* Parse len bytes of UTF-8 JSON; what names the source in errors. */
extern JsonbContainer *embed_json_parse(const char *data, size_t len, const char *what);

/*
 * Read and parse a JSON file (any top-level value; the accessors below
 * treat a non-object as having no fields).  A missing file is an ERROR
 * (58P01) when required, else NULL.  Files above 256 MB are refused.
 */
extern JsonbContainer *embed_json_read_file(const char *path, bool required);

/*
 * A memory context for parsed JSON that is only needed while a model is
 * bound (a large tokenizer.json parses into megabytes); delete it after.
 */
extern MemoryContext embed_json_scratch(void);

/* The value of key in an object, or NULL when absent or JSON null. */
extern JsonbValue *embed_json_get(JsonbContainer *obj, const char *key);

/* Typed fields; what names the file in errors.  "_opt" forms take a default. */
extern JsonbContainer *embed_json_object(JsonbContainer *obj, const char *key, const char *what);
extern JsonbContainer *embed_json_array(JsonbContainer *obj, const char *key, const char *what);
extern char *embed_json_string_opt(JsonbContainer *obj, const char *key, const char *dflt,
								   const char *what);
extern int64 embed_json_int(JsonbContainer *obj, const char *key, const char *what);
extern int64 embed_json_int_opt(JsonbContainer *obj, const char *key, int64 dflt, const char *what);
extern double embed_json_double_opt(JsonbContainer *obj, const char *key, double dflt,
									const char *what);
extern bool embed_json_bool_opt(JsonbContainer *obj, const char *key, bool dflt, const char *what);

/* A JSON number as int64 (ERROR if not an integer in range). */
extern int64 embed_json_value_int(const JsonbValue *v, const char *what);

/* ERROR XX001 "... \"what\" is invalid: detail" */
extern void embed_json_invalid(const char *what, const char *detail) pg_attribute_noreturn();

#endif							/* RETRIEVAL_EMBED_JSON_H */
