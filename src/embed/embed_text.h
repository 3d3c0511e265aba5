/*-------------------------------------------------------------------------
 *
 * embed_text.h
 *	  Embedding texts from C: what the hybrid text index calls to embed
 *	  rows and queries with the same code path as retrieval.embed(), so an
 *	  index's vectors and the per-row operators' are bit-identical.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_EMBED_TEXT_H
#define RETRIEVAL_EMBED_TEXT_H

#include "postgres.h"

#include "embed_model.h"

/*
 * Embed n texts (database encoding) into out[n][m->dims], batched into as
 * few forward passes as the model allows.  Each result equals the one
 * retrieval.embed(text) returns for that text, bit for bit.
 */
extern void embed_texts(const EmbedModel *m, int n, text *const *texts, float *out);

#endif							/* RETRIEVAL_EMBED_TEXT_H */
