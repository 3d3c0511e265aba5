/*-------------------------------------------------------------------------
 *
 * quantize.c
 *	  The sq8 and binary codecs: parameters, training, encoding, decoding
 *	  and query-to-code distance estimates (see quantize.h for the maths).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"

#include "quantize.h"
#include "quantize_kernels.h"

#define BINARY_ROUNDS	2

/* sq8 code trailer: lo, step, sum of codes, sum of squared codes */
#define SQ8_TRAILER		4

QuantKind
quant_kind_from_name(const char *name, bool *ok)
{
	*ok = true;
	if (name == NULL || strcmp(name, "none") == 0)
		return QUANT_NONE;
	if (strcmp(name, "sq8") == 0)
		return QUANT_SQ8;
	if (strcmp(name, "binary") == 0)
		return QUANT_BINARY;
	*ok = false;
	return QUANT_NONE;
}

const char *
quant_kind_name(QuantKind kind)
{
	switch (kind)
	{
		case QUANT_SQ8:
			return "sq8";
		case QUANT_BINARY:
			return "binary";
		default:
			return "none";
	}
}

/* Hadamard transforms need a power of two; 64 keeps the bit words whole. */
static int
padded_dims(int dims)
{
	int			p = 64;

	while (p < dims)
		p <<= 1;
	return p;
}

int
quant_code_bytes(QuantKind kind, int dims)
{
	switch (kind)
	{
		case QUANT_SQ8:
			return dims + SQ8_TRAILER * (int) sizeof(float);
		case QUANT_BINARY:
			return padded_dims(dims) / 8 + 2 * (int) sizeof(float);
		default:
			return 0;
	}
}

int
quant_param_count(QuantKind kind, int dims)
{
	switch (kind)
	{
		case QUANT_BINARY:
			return dims;
		default:
			return 0;			/* sq8 codes carry their own range */
	}
}

QuantCodec *
quant_codec_create(QuantKind kind, QuantMetric metric, int dims, float *params)
{
	QuantCodec *codec = palloc0(sizeof(QuantCodec));
	bool		fresh = params == NULL;

	codec->kind = kind;
	codec->metric = metric;
	codec->dims = dims;
	codec->padded = kind == QUANT_BINARY ? padded_dims(dims) : dims;
	codec->code_bytes = quant_code_bytes(kind, dims);
	if (fresh)
		params = palloc0(sizeof(float) * Max(quant_param_count(kind, dims), 1));
	codec->params = params;
	if (kind == QUANT_BINARY)
		codec->center = params;
	if (fresh)
		quant_codec_defaults(codec);
	return codec;
}

/*
 * Parameters of a codec that saw no rows (an index built on an empty
 * table): binary does not centre, which suits directions (cosine).
 */
void
quant_codec_defaults(QuantCodec *codec)
{
	if (codec->kind == QUANT_BINARY)
		for (int i = 0; i < codec->dims; i++)
			codec->center[i] = 0.0f;
}

/* ------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------
 */

struct QuantTrainer
{
	QuantKind	kind;
	int			dims;
	int64		count;
	double	   *sum;
};

QuantTrainer *
quant_trainer_create(const QuantCodec *codec)
{
	QuantTrainer *t = palloc0(sizeof(QuantTrainer));

	t->kind = codec->kind;
	t->dims = codec->dims;
	if (t->kind == QUANT_BINARY)
		t->sum = palloc0(sizeof(double) * t->dims);
	return t;
}

void
quant_trainer_add(QuantTrainer *t, const float *vec)
{
	if (t->kind == QUANT_BINARY)
		for (int i = 0; i < t->dims; i++)
			t->sum[i] += vec[i];
	t->count++;
}

/* Set codec's parameters from the rows seen; returns how many. */
int64
quant_trainer_finish(QuantTrainer *t, QuantCodec *codec)
{
	if (t->count == 0)
	{
		quant_codec_defaults(codec);
		return 0;
	}
	if (t->kind == QUANT_BINARY)
		for (int i = 0; i < t->dims; i++)
			codec->center[i] = (float) (t->sum[i] / (double) t->count);
	return t->count;
}

/* ------------------------------------------------------------------------
 * The binary codec's rotation
 * ------------------------------------------------------------------------
 */

static inline bool
flip_sign(int round, int i)
{
	return (hash_bytes_uint32((uint32) i ^ ((uint32) round * 0x9E3779B9u)) & 1) != 0;
}

/* In-place normalised Walsh-Hadamard transform (its own inverse). */
static void
fwht(float *x, int n)
{
	float		scale = 1.0f / sqrtf((float) n);

	for (int h = 1; h < n; h <<= 1)
		for (int i = 0; i < n; i += 2 * h)
			for (int j = i; j < i + h; j++)
			{
				float		a = x[j];
				float		b = x[j + h];

				x[j] = a + b;
				x[j + h] = a - b;
			}
	for (int i = 0; i < n; i++)
		x[i] *= scale;
}

static void
rotate(float *x, int n)
{
	for (int round = 0; round < BINARY_ROUNDS; round++)
	{
		for (int i = 0; i < n; i++)
			if (flip_sign(round, i))
				x[i] = -x[i];
		fwht(x, n);
	}
}

static void
unrotate(float *x, int n)
{
	for (int round = BINARY_ROUNDS - 1; round >= 0; round--)
	{
		fwht(x, n);
		for (int i = 0; i < n; i++)
			if (flip_sign(round, i))
				x[i] = -x[i];
	}
}

/* ------------------------------------------------------------------------
 * Encoding and decoding
 * ------------------------------------------------------------------------
 */

void
quant_encode(const QuantCodec *codec, const float *vec, uint8 *code)
{
	if (codec->kind == QUANT_SQ8)
	{
		float		lo = vec[0];
		float		hi = vec[0];
		float		step;
		float		trailer[SQ8_TRAILER];
		double		sum = 0.0;
		double		sum2 = 0.0;

		for (int i = 1; i < codec->dims; i++)
		{
			lo = Min(lo, vec[i]);
			hi = Max(hi, vec[i]);
		}
		step = (hi - lo) / 255.0f;
		for (int i = 0; i < codec->dims; i++)
		{
			float		c = step > 0.0f ? rintf((vec[i] - lo) / step) : 0.0f;

			/* also maps NaN to 0 (vectors never hold NaN, but be safe) */
			code[i] = (c >= 0.0f) ? (uint8) Min(c, 255.0f) : 0;
			sum += code[i];
			sum2 += (double) code[i] * code[i];
		}
		trailer[0] = lo;
		trailer[1] = step;
		trailer[2] = (float) sum;
		trailer[3] = (float) sum2;
		memcpy(code + codec->dims, trailer, sizeof(trailer));
	}
	else if (codec->kind == QUANT_BINARY)
	{
		int			n = codec->padded;
		float	   *r = palloc0(sizeof(float) * n);
		double		norm2 = 0.0;
		double		abssum = 0.0;
		float		norm;
		float		factor;

		for (int i = 0; i < codec->dims; i++)
		{
			r[i] = vec[i] - codec->center[i];
			norm2 += (double) r[i] * r[i];
		}
		rotate(r, n);
		memset(code, 0, n / 8);
		for (int i = 0; i < n; i++)
		{
			if (r[i] > 0.0f)
				code[i >> 3] |= (uint8) (1 << (i & 7));
			abssum += fabsf(r[i]);
		}
		norm = (float) sqrt(norm2);
		/* <o_bar, o> = sum |o_i| / sqrt(n); 1 when r = 0 (estimate unused) */
		factor = norm > 0.0f ? (float) (abssum / (sqrt((double) n) * norm)) : 1.0f;
		memcpy(code + n / 8, &norm, sizeof(float));
		memcpy(code + n / 8 + sizeof(float), &factor, sizeof(float));
		pfree(r);
	}
}

/*
 * An approximation of the coded vector, for the graph's node-to-node
 * distances (neighbour pruning on insert and VACUUM repair).
 */
void
quant_decode(const QuantCodec *codec, const uint8 *code, float *out)
{
	if (codec->kind == QUANT_SQ8)
	{
		float		trailer[SQ8_TRAILER];

		memcpy(trailer, code + codec->dims, sizeof(trailer));
		for (int i = 0; i < codec->dims; i++)
			out[i] = trailer[0] + trailer[1] * (float) code[i];
	}
	else if (codec->kind == QUANT_BINARY)
	{
		int			n = codec->padded;
		float	   *r = palloc(sizeof(float) * n);
		float		norm;
		float		unit;

		memcpy(&norm, code + n / 8, sizeof(float));
		unit = norm / sqrtf((float) n);
		for (int i = 0; i < n; i++)
			r[i] = (code[i >> 3] >> (i & 7)) & 1 ? unit : -unit;
		unrotate(r, n);
		for (int i = 0; i < codec->dims; i++)
			out[i] = codec->center[i] + r[i];
		pfree(r);
	}
}

/* ------------------------------------------------------------------------
 * Query-to-code distances
 * ------------------------------------------------------------------------
 */

void
quant_query_prepare(const QuantCodec *codec, const float *q, QuantQuery *qq)
{
	memset(qq, 0, sizeof(QuantQuery));
	qq->codec = codec;
	if (codec->kind == QUANT_SQ8)
	{
		double		sum = 0.0;
		double		sum2 = 0.0;

		qq->a = palloc(sizeof(float) * codec->dims);
		memcpy(qq->a, q, sizeof(float) * codec->dims);
		for (int i = 0; i < codec->dims; i++)
		{
			sum += q[i];
			sum2 += (double) q[i] * q[i];
		}
		qq->qsum = sum;
		qq->qnorm2 = sum2;
	}
	else if (codec->kind == QUANT_BINARY)
	{
		int			n = codec->padded;
		int			nbytes = n / 8;
		float	   *v = palloc0(sizeof(float) * n);
		double		vnorm2 = 0.0;
		double		qdotc = 0.0;
		double		vsum = 0.0;

		for (int i = 0; i < codec->dims; i++)
		{
			if (codec->metric == QUANT_METRIC_L2)
			{
				v[i] = q[i] - codec->center[i];
				vnorm2 += (double) v[i] * v[i];
			}
			else
			{
				v[i] = q[i];
				qdotc += (double) q[i] * codec->center[i];
			}
		}
		rotate(v, n);
		for (int i = 0; i < n; i++)
			vsum += v[i];
		qq->lut = palloc(sizeof(float) * 256 * nbytes);
		for (int j = 0; j < nbytes; j++)
		{
			float	   *t = qq->lut + 256 * j;

			t[0] = 0.0f;
			for (int b = 1; b < 256; b++)
				t[b] = t[b & (b - 1)] + v[8 * j + __builtin_ctz(b)];
		}
		qq->vsum = (float) vsum;
		qq->vnorm2 = (float) vnorm2;
		qq->qdotc = (float) qdotc;
		pfree(v);
	}
}

void
quant_query_free(QuantQuery *qq)
{
	if (qq->a)
		pfree(qq->a);
	if (qq->lut)
		pfree(qq->lut);
	qq->a = NULL;
	qq->lut = NULL;
}

float
quant_query_distance(const QuantQuery *qq, const uint8 *code)
{
	const QuantCodec *codec = qq->codec;
	const QuantKernels *k = quant_kernels();

	if (codec->kind == QUANT_SQ8)
	{
		/* x_i = lo + step * c_i: everything but <q, c> is known per row */
		float		t[SQ8_TRAILER];
		double		qc = k->sq8_dot(qq->a, code, codec->dims);
		double		lo;
		double		step;
		double		dot;

		memcpy(t, code + codec->dims, sizeof(t));
		lo = t[0];
		step = t[1];
		dot = lo * qq->qsum + step * qc;
		if (codec->metric == QUANT_METRIC_L2)
		{
			/* |q|^2 - 2 <q, x> + |x|^2 */
			double		xnorm2 = codec->dims * lo * lo + 2.0 * lo * step * t[2] +
				step * step * t[3];

			return (float) (qq->qnorm2 - 2.0 * dot + xnorm2);
		}
		return (float) (codec->metric == QUANT_METRIC_IP ? -dot : 1.0 - dot);
	}
	else
	{
		int			nbytes = codec->padded / 8;
		float		norm;
		float		factor;
		float		sel = k->lut_sum(qq->lut, code, nbytes);
		float		est;

		memcpy(&norm, code + nbytes, sizeof(float));
		memcpy(&factor, code + nbytes + sizeof(float), sizeof(float));
		/* <o_bar, R v> with o_bar = +-1/sqrt(n): selected minus the rest */
		est = (2.0f * sel - qq->vsum) / sqrtf((float) codec->padded);
		est /= Max(factor, 1e-3f);
		if (codec->metric == QUANT_METRIC_L2)
			return norm * norm + qq->vnorm2 - 2.0f * norm * est;
		est = qq->qdotc + norm * est;
		return codec->metric == QUANT_METRIC_IP ? -est : 1.0f - est;
	}
}
