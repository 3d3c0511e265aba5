/*-------------------------------------------------------------------------
 *
 * quantize.h
 *	  Vector codecs: compact codes that graph traversal compares instead of
 *	  full-precision vectors.
 *
 * Two codecs:
 *	- sq8: scalar quantization to 8 bits with a range per vector: x_i is
 *	  stored as c_i, the nearest of 256 levels lo + step * c between the
 *	  vector's own minimum and maximum.  Code: dims bytes, then lo, step,
 *	  sum c_i and sum c_i^2 (floats), so a distance to a float query needs
 *	  one pass, <q, c>.  Needing no training, it works the same for rows
 *	  inserted long after CREATE INDEX and for indexes built on empty tables
 *	  (a per-dimension range learnt at build time clamped later rows and
 *	  had nothing to learn from on an empty table).  Error: at most step/2
 *	  per dimension; integer data in a 0..255 range is coded exactly.
 *	- binary: RaBitQ-style 1-bit code.  A row x is centred on the mean c of
 *	  the build rows, r = x - c, then rotated by a fixed pseudo-random
 *	  orthogonal transform R (two rounds of random sign flips and a
 *	  normalised Walsh-Hadamard transform over the dimensions padded to a
 *	  power of two, D'); the code keeps the signs of R r, plus |r| and
 *	  f = <o_bar, R r / |r|> where o_bar = sign bits / sqrt(D').  For a
 *	  query-side vector v, <r, v> is estimated as
 *	  |r| * <o_bar, R v> / f (the RaBitQ estimator, unbiased for a random
 *	  rotation).  Code: D' / 8 bytes + 8.  The query stays in float: the
 *	  per-query lookup table holds, for each byte of the code, the sum of
 *	  the rotated query's entries selected by each of the 256 bit patterns,
 *	  so a distance costs D' / 8 table loads.
 *
 * Distances returned are estimates of the HNSW "ordering distances"
 * (squared L2, -inner product, 1 - inner product of unit vectors); exact
 * re-ranking is the caller's job.
 *
 * The binary codec's parameters (the centre) are a flat float array
 * (quant_param_count floats) that the index stores in its own pages; this
 * module never touches pages.  sq8 has none.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_QUANTIZE_H
#define RETRIEVAL_QUANTIZE_H

#include "postgres.h"

typedef enum QuantKind
{
	QUANT_NONE = 0,
	QUANT_SQ8 = 1,
	QUANT_BINARY = 2
} QuantKind;

/* Same values as HnswMetric. */
typedef enum QuantMetric
{
	QUANT_METRIC_L2 = 1,
	QUANT_METRIC_IP = 2,
	QUANT_METRIC_COSINE = 3
} QuantMetric;

typedef struct QuantCodec
{
	QuantKind	kind;
	QuantMetric metric;
	int			dims;
	int			padded;			/* binary: dims rounded up to a power of 2 */
	int			code_bytes;
	float	   *params;			/* quant_param_count() floats */
	/* views into params */
	float	   *center;			/* binary: mean of the build rows */
} QuantCodec;

/* Per-query state: everything that does not depend on the row. */
typedef struct QuantQuery
{
	const QuantCodec *codec;
	/* sq8 */
	float	   *a;				/* the query */
	double		qsum;			/* sum q_i */
	double		qnorm2;			/* |q|^2 */
	/* binary */
	float	   *lut;			/* (padded / 8) x 256 partial sums */
	float		vsum;			/* sum of rotated v */
	float		vnorm2;			/* |v|^2 (L2: v = q - c) */
	float		qdotc;			/* <q, c> (IP/cosine) */
} QuantQuery;

extern QuantKind quant_kind_from_name(const char *name, bool *ok);
extern const char *quant_kind_name(QuantKind kind);
extern int	quant_code_bytes(QuantKind kind, int dims);
extern int	quant_param_count(QuantKind kind, int dims);

/* A codec over params (palloc'd here if NULL), set to untrained defaults. */
extern QuantCodec *quant_codec_create(QuantKind kind, QuantMetric metric, int dims,
									  float *params);
extern void quant_codec_defaults(QuantCodec *codec);

/* Training: add the build rows one by one, then finish into the codec. */
typedef struct QuantTrainer QuantTrainer;
extern QuantTrainer *quant_trainer_create(const QuantCodec *codec);
extern void quant_trainer_add(QuantTrainer *trainer, const float *vec);
extern int64 quant_trainer_finish(QuantTrainer *trainer, QuantCodec *codec);

extern void quant_encode(const QuantCodec *codec, const float *vec, uint8 *code);
extern void quant_decode(const QuantCodec *codec, const uint8 *code, float *out);

extern void quant_query_prepare(const QuantCodec *codec, const float *query, QuantQuery *qq);
extern void quant_query_free(QuantQuery *qq);
extern float quant_query_distance(const QuantQuery *qq, const uint8 *code);

#endif							/* RETRIEVAL_QUANTIZE_H */
