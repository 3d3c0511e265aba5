/*-------------------------------------------------------------------------
 *
 * vector_io.c
 *	  Text and binary I/O for the vector type, and its typmod.
 *
 * Compatibility with pgvector is the point of this file: clients written for
 * pgvector (node-postgres, psycopg, JDBC...) send and parse exactly these
 * forms.
 *
 * Text form: '[' element (',' element)* ']' with optional whitespace around
 * every token.  Elements are anything strtof() accepts (so "1", "-2.5",
 * "3e-2", "1E+10", " 4" all work), except NaN and infinities, which are
 * rejected, and values that overflow float4.  Output is the shortest
 * decimal that reads back as the same float4, the same digits float4out
 * prints with extra_float_digits >= 1.
 *
 * Binary form: int16 dim, int16 unused (must be 0), dim float4s, all in
 * network byte order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <errno.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "vector.h"

PG_FUNCTION_INFO_V1(vector_in);
PG_FUNCTION_INFO_V1(vector_out);
PG_FUNCTION_INFO_V1(vector_recv);
PG_FUNCTION_INFO_V1(vector_send);
PG_FUNCTION_INFO_V1(vector_typmod_in);
PG_FUNCTION_INFO_V1(vector_typmod_out);
PG_FUNCTION_INFO_V1(vector_enforce_typmod);

/* Whitespace as PostgreSQL's own input functions understand it. */
static inline bool
vector_isspace(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		ch == '\v' || ch == '\f';
}

static inline const char *
skip_space(const char *p)
{
	while (vector_isspace(*p))
		p++;
	return p;
}

static void
report_syntax_error(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type vector: \"%s\"", input),
			 errdetail("%s", detail)));
}

/*
 * Parse one element starting at *pp; advance *pp past it.
 */
static float
parse_element(const char *input, const char **pp)
{
	const char *start = *pp;
	char	   *end;
	float		value;

	/*
	 * strtof() would skip leading whitespace itself, but also accepts an
	 * empty string after it as "no conversion"; reject a missing element
	 * ("[1,,2]", "[1,]") explicitly so the detail is helpful.
	 */
	if (*start == ',' || *start == ']' || *start == '\0')
		report_syntax_error(input, "Vector elements must be numbers.");

	errno = 0;
	value = strtof(start, &end);
	if (end == start)
		report_syntax_error(input, "Vector elements must be numbers.");
	if (errno == ERANGE && isinf(value))
	{
		int			len = (int) (end - start);

		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%.*s\" is out of range for type vector", len, start)));
	}
	vector_check_element(value);
	*pp = end;
	return value;
}

Datum
vector_in(PG_FUNCTION_ARGS)
{
	const char *input = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = skip_space(input);
	int			capacity = 16;
	int			dim = 0;
	float	   *values;
	Vector	   *result;

	if (*p != '[')
		report_syntax_error(input, "Vector contents must start with \"[\".");
	p = skip_space(p + 1);
	if (*p == ']')
		vector_check_dim_count(0);

	values = palloc(sizeof(float) * capacity);
	for (;;)
	{
		float		value;

		p = skip_space(p);
		value = parse_element(input, &p);
		if (dim == VECTOR_MAX_DIM)
			vector_check_dim_count(dim + 1);
		if (dim == capacity)
		{
			capacity = Min(capacity * 2, VECTOR_MAX_DIM);
			values = repalloc(values, sizeof(float) * capacity);
		}
		values[dim++] = value;

		p = skip_space(p);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
			break;
		if (*p == '\0')
			report_syntax_error(input, "Vector contents must end with \"]\".");
		report_syntax_error(input, "Vector elements must be separated by \",\".");
	}

	p = skip_space(p + 1);
	if (*p != '\0')
		report_syntax_error(input, "Junk after closing right bracket.");

	vector_check_typmod(dim, typmod);

	result = vector_new(dim);
	memcpy(result->x, values, sizeof(float) * dim);
	pfree(values);
	PG_RETURN_VECTOR_P(result);
}

Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	/*
	 * Each element needs at most FLOAT_SHORTEST_DECIMAL_LEN - 1 characters
	 * plus a separator; size the buffer once.
	 */
	initStringInfo(&buf);
	enlargeStringInfo(&buf, v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			buf.data[buf.len++] = ',';
		buf.len += float_to_shortest_decimal_bufn(v->x[i], buf.data + buf.len);
	}
	buf.data[buf.len++] = ']';
	buf.data[buf.len] = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf.data);
}

Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	Vector	   *result;

	dim = pq_getmsgint(buf, sizeof(int16));
	unused = pq_getmsgint(buf, sizeof(int16));
	vector_check_dim_count(dim);
	vector_check_typmod(dim, typmod);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type vector"),
				 errdetail("The reserved field must be 0, not %d.", unused)));

	/* Refuse before allocating if the message cannot hold dim floats. */
	if (buf->len - buf->cursor < (int) (dim * sizeof(float)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type vector"),
				 errdetail("Expected %d elements, but the message is too short.", dim)));

	result = vector_new(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		vector_check_element(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type vector takes exactly one modifier: its number of dimensions.")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector must be at least 1")));
	if (mods[0] > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d", VECTOR_MAX_DIM)));
	PG_RETURN_INT32(mods[0]);
}

Datum
vector_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	PG_RETURN_CSTRING(psprintf("(%d)", typmod));
}

/*
 * The length-coercion cast vector -> vector(n), applied on assignment to a
 * typed column and on explicit casts.
 */
Datum
vector_enforce_typmod(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	vector_check_typmod(v->dim, typmod);
	PG_RETURN_VECTOR_P(v);
}
