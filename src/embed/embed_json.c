/*-------------------------------------------------------------------------
 *
 * embed_json.c
 *	  JSON files of model directories, parsed by jsonb_in (embed_json.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "embed_json.h"

#define JSON_FILE_MAX ((size_t) 256 * 1024 * 1024)

void
embed_json_invalid(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("embedding model file \"%s\" is invalid: %s", what, detail)));
	pg_unreachable();
}

static void
json_error_context(void *arg)
{
	errcontext("parsing JSON of embedding model file \"%s\"", (const char *) arg);
}

JsonbContainer *
embed_json_parse(const char *data, size_t len, const char *what)
{
	char	   *s;
	Jsonb	   *j;
	ErrorContextCallback cb;

	/*
	 * The files are UTF-8 whatever the database encoding; jsonb_in would
	 * otherwise trust the bytes.  A NUL inside is invalid too.
	 */
	if (len >= MaxAllocSize || !pg_verify_mbstr(PG_UTF8, data, (int) len, true))
		embed_json_invalid(what, "not valid UTF-8 JSON text");
	s = palloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';

	cb.callback = json_error_context;
	cb.arg = (void *) what;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
	error_context_stack = cb.previous;
	pfree(s);
	return &j->root;
}

JsonbContainer *
embed_json_read_file(const char *path, bool required)
{
	FILE	   *f;
	struct stat st;
	char	   *buf;
	size_t		got;
	JsonbContainer *c;

	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno == ENOENT && !required)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open embedding model file \"%s\": %m", path)));
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size > JSON_FILE_MAX)
	{
		FreeFile(f);
		embed_json_invalid(path, "not a regular file of at most 256 MB");
	}
	buf = palloc((size_t) st.st_size + 1);
	got = fread(buf, 1, (size_t) st.st_size, f);
	FreeFile(f);
	if (got != (size_t) st.st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read embedding model file \"%s\"", path)));
	c = embed_json_parse(buf, got, path);
	pfree(buf);
	return c;
}

MemoryContext
embed_json_scratch(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "retrieval model JSON", ALLOCSET_DEFAULT_SIZES);
}

JsonbValue *
embed_json_get(JsonbContainer *obj, const char *key)
{
	JsonbValue *v;

	if (obj == NULL || !JsonContainerIsObject(obj))
		return NULL;
	v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
	if (v && v->type == jbvNull)
		return NULL;
	return v;
}

static JsonbContainer *
container_of(JsonbContainer *obj, const char *key, const char *what, bool array)
{
	JsonbValue *v = embed_json_get(obj, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvBinary ||
		(array ? !JsonContainerIsArray(v->val.binary.data) : !JsonContainerIsObject(v->val.binary.data)))
		embed_json_invalid(what, psprintf("field \"%s\" is not a JSON %s", key, array ? "array" : "object"));
	return v->val.binary.data;
}

JsonbContainer *
embed_json_object(JsonbContainer *obj, const char *key, const char *what)
{
	return container_of(obj, key, what, false);
}

JsonbContainer *
embed_json_array(JsonbContainer *obj, const char *key, const char *what)
{
	return container_of(obj, key, what, true);
}

char *
embed_json_string_opt(JsonbContainer *obj, const char *key, const char *dflt, const char *what)
{
	JsonbValue *v = embed_json_get(obj, key);

	if (v == NULL)
		return dflt ? pstrdup(dflt) : NULL;
	if (v->type != jbvString)
		embed_json_invalid(what, psprintf("field \"%s\" is not a string", key));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

int64
embed_json_value_int(const JsonbValue *v, const char *what)
{
	double		d;

	if (v->type != jbvNumeric)
		embed_json_invalid(what, "a number was expected");
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d))
		embed_json_invalid(what, "an integer was expected");
	return (int64) d;
}

int64
embed_json_int(JsonbContainer *obj, const char *key, const char *what)
{
	JsonbValue *v = embed_json_get(obj, key);

	if (v == NULL)
		embed_json_invalid(what, psprintf("field \"%s\" is missing", key));
	if (v->type != jbvNumeric)
		embed_json_invalid(what, psprintf("field \"%s\" is not a number", key));
	return embed_json_value_int(v, what);
}

int64
embed_json_int_opt(JsonbContainer *obj, const char *key, int64 dflt, const char *what)
{
	return embed_json_get(obj, key) ? embed_json_int(obj, key, what) : dflt;
}

double
embed_json_double_opt(JsonbContainer *obj, const char *key, double dflt, const char *what)
{
	JsonbValue *v = embed_json_get(obj, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		embed_json_invalid(what, psprintf("field \"%s\" is not a number", key));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

bool
embed_json_bool_opt(JsonbContainer *obj, const char *key, bool dflt, const char *what)
{
	JsonbValue *v = embed_json_get(obj, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvBool)
		embed_json_invalid(what, psprintf("field \"%s\" is not a boolean", key));
	return v->val.boolean;
}
