/*-------------------------------------------------------------------------
 *
 * safetensors.c
 *	  Maps a .safetensors file read-only and validates its header.
 *
 * Like model_file.c, this is the one place that trusts nothing: every
 * tensor's offsets, size and shape are checked against the file once, at
 * load, so a truncated or corrupted file is an ERROR and never an
 * out-of-bounds read later.  The header JSON is parsed by jsonb_in
 * (embed_json.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils/memutils.h"

#include "embed_json.h"
#include "safetensors.h"

/* Far above any real header (a few hundred kB); bounds the palloc. */
#define ST_HEADER_MAX ((uint64) 100 * 1024 * 1024)

static void
st_invalid(SafeTensors *st, const char *detail)
{
	munmap((void *) st->base, st->size);
	st->base = NULL;
	embed_json_invalid(st->path, detail);
}

static bool
parse_dtype(const JsonbValue *v, StDtype *dt, int *bytes)
{
	if (v == NULL || v->type != jbvString)
		return false;
#define IS(lit) (v->val.string.len == (int) strlen(lit) && memcmp(v->val.string.val, lit, strlen(lit)) == 0)
	if (IS("F32"))
		*dt = ST_F32, *bytes = 4;
	else if (IS("F16"))
		*dt = ST_F16, *bytes = 2;
	else if (IS("BF16"))
		*dt = ST_BF16, *bytes = 2;
	else
		return false;
#undef IS
	return true;
}

/* Validate one header entry; NULL if fine, else what is wrong. */
static const char *
parse_entry(JsonbContainer *e, const char *data, uint64 data_bytes, StTensor *t, bool *skip)
{
	JsonbValue *dtype = embed_json_get(e, "dtype");
	JsonbValue *shape = embed_json_get(e, "shape");
	JsonbValue *offs = embed_json_get(e, "data_offsets");
	JsonbContainer *sc,
			   *oc;
	int			esize;
	uint64		count = 1;
	int64		begin,
				end;

	*skip = false;
	if (shape == NULL || shape->type != jbvBinary || !JsonContainerIsArray(shape->val.binary.data) ||
		offs == NULL || offs->type != jbvBinary || !JsonContainerIsArray(offs->val.binary.data) ||
		dtype == NULL || dtype->type != jbvString)
		return "a tensor entry lacks dtype, shape or data_offsets";
	sc = shape->val.binary.data;
	oc = offs->val.binary.data;
	if (JsonContainerSize(oc) != 2)
		return "data_offsets is not a pair";
	begin = embed_json_value_int(getIthJsonbValueFromContainer(oc, 0), "safetensors header");
	end = embed_json_value_int(getIthJsonbValueFromContainer(oc, 1), "safetensors header");
	if (begin < 0 || end < begin || (uint64) end > data_bytes)
		return "a tensor lies outside the file (truncated file?)";
	if (!parse_dtype(dtype, &t->dtype, &esize))
	{
		*skip = true;			/* e.g. I64 position ids: not ours to read */
		return NULL;
	}
	t->ndim = (int) JsonContainerSize(sc);
	if (t->ndim > ST_MAX_DIMS)
		return "a tensor has too many dimensions";
	for (int i = 0; i < t->ndim; i++)
	{
		int64		d = embed_json_value_int(getIthJsonbValueFromContainer(sc, i), "safetensors header");

		if (d < 0 || d > ((int64) 1 << 40))
			return "a tensor has an invalid dimension";
		t->shape[i] = d;
		count *= (uint64) d;
		if (count > ((uint64) 1 << 40))
			return "a tensor is too large";
	}
	if (count * esize != (uint64) (end - begin))
		return "a tensor's byte size does not match its shape and dtype";
	t->count = (int64) count;
	t->data = data + begin;
	return NULL;
}

void
safetensors_open(SafeTensors *st, const char *path)
{
	int			fd;
	struct stat st_buf;
	uint64		hlen;
	JsonbContainer *h;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap;
	const char *data;
	uint64		data_bytes;
	MemoryContext caller;
	MemoryContext scratch;

	memset(st, 0, sizeof(*st));
	st->path = pstrdup(path);
	fd = open(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open embedding model file \"%s\": %m", path)));
	if (fstat(fd, &st_buf) != 0 || !S_ISREG(st_buf.st_mode) || st_buf.st_size < 8)
	{
		close(fd);
		embed_json_invalid(path, "not a regular file of at least 8 bytes");
	}
	st->base = mmap(NULL, (size_t) st_buf.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (st->base == MAP_FAILED)
	{
		st->base = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not map embedding model file \"%s\": %m", path)));
	}
	st->size = (size_t) st_buf.st_size;

	/* little-endian u64, byte by byte (no alignment or host order assumed) */
	hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | (uint8) st->base[i];
	if (hlen < 2 || hlen > ST_HEADER_MAX || hlen > st->size - 8)
		st_invalid(st, "bad safetensors header length (truncated or not a safetensors file?)");
	data = st->base + 8 + hlen;
	data_bytes = st->size - 8 - hlen;

	/* the parsed header is garbage once the tensors are listed */
	caller = CurrentMemoryContext;
	scratch = embed_json_scratch();
	MemoryContextSwitchTo(scratch);
	PG_TRY();
	{
		h = embed_json_parse(st->base + 8, (size_t) hlen, path);
	}
	PG_CATCH();
	{
		munmap((void *) st->base, st->size);
		st->base = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!JsonContainerIsObject(h))
		st_invalid(st, "the safetensors header is not a JSON object");

	cap = (int) JsonContainerSize(h);
	st->tensors = MemoryContextAllocZero(caller, Max(cap, 1) * sizeof(StTensor));
	it = JsonbIteratorInit(h);
	tok = JsonbIteratorNext(&it, &v, true);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		const char *problem;
		bool		skip;
		StTensor   *t;

		if (tok != WJB_KEY)
			continue;
		name = MemoryContextStrdup(caller, pnstrdup(v.val.string.val, v.val.string.len));
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(name, "__metadata__") == 0)
			continue;
		if (tok != WJB_VALUE || v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			st_invalid(st, psprintf("tensor \"%s\": entry is not a JSON object", name));
		Assert(st->ntensors < cap);
		t = &st->tensors[st->ntensors];
		PG_TRY();
		{
			problem = parse_entry(v.val.binary.data, data, data_bytes, t, &skip);
		}
		PG_CATCH();
		{
			munmap((void *) st->base, st->size);
			st->base = NULL;
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (problem)
			st_invalid(st, psprintf("tensor \"%s\": %s", name, problem));
		if (skip)
			continue;
		t->name = name;
		st->ntensors++;
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(scratch);
}

void
safetensors_close(SafeTensors *st)
{
	if (st->base)
		munmap((void *) st->base, st->size);
	st->base = NULL;
}

const StTensor *
safetensors_find(const SafeTensors *st, const char *name)
{
	for (int i = 0; i < st->ntensors; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

const StTensor *
safetensors_get(const SafeTensors *st, const char *name, int ndim, int64 d0, int64 d1)
{
	const StTensor *t = safetensors_find(st, name);

	if (t == NULL)
		embed_json_invalid(st->path, psprintf("tensor \"%s\" is missing", name));
	if (t->ndim != ndim || (d0 >= 0 && t->shape[0] != d0) ||
		(ndim > 1 && d1 >= 0 && t->shape[1] != d1))
		embed_json_invalid(st->path, psprintf("tensor \"%s\" has an unexpected shape", name));
	return t;
}

static float
half_to_float(uint16 h)
{
	uint32		sign = (uint32) (h & 0x8000) << 16;
	uint32		exp = (h >> 10) & 0x1f;
	uint32		man = h & 0x3ff;
	uint32		bits;
	float		f;

	if (exp == 0)
	{
		/* zero or subnormal: man * 2^-24 */
		f = (float) man * (1.0f / 16777216.0f);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000 | (man << 13);
	else
		bits = sign | ((exp + 112) << 23) | (man << 13);
	memcpy(&f, &bits, 4);
	return f;
}

void
safetensors_to_f32(const StTensor *t, float *dst)
{
	const uint8 *p = (const uint8 *) t->data;

	/* little-endian on disk; every platform we build for is too */
	switch (t->dtype)
	{
		case ST_F32:
			memcpy(dst, p, (size_t) t->count * 4);
			break;
		case ST_F16:
			for (int64 i = 0; i < t->count; i++)
				dst[i] = half_to_float((uint16) (p[2 * i] | (p[2 * i + 1] << 8)));
			break;
		case ST_BF16:
			for (int64 i = 0; i < t->count; i++)
			{
				uint32		bits = ((uint32) p[2 * i] << 16) | ((uint32) p[2 * i + 1] << 24);

				memcpy(&dst[i], &bits, 4);
			}
			break;
	}
}

const float *
safetensors_f32(const StTensor *t)
{
	float	   *copy;

	if (t->dtype == ST_F32 && ((uintptr_t) t->data) % sizeof(float) == 0)
		return (const float *) t->data;
	copy = palloc_extended((size_t) t->count * sizeof(float), MCXT_ALLOC_HUGE);
	safetensors_to_f32(t, copy);
	return copy;
}
