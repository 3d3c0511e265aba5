/*-------------------------------------------------------------------------
 *
 * model_registry.h
 *	  Named embedding models: the registry table, sha256 fingerprints of
 *	  the model files, and the per-backend cache of loaded models.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_MODEL_REGISTRY_H
#define RETRIEVAL_MODEL_REGISTRY_H

#include "postgres.h"

#include "embed_model.h"

#define EMBED_DEFAULT_MODEL "use-lite"

/*
 * The loaded model called name (NULL: the default model).  A registered
 * model is checked against its registered fingerprint when this backend
 * first loads it and whenever one of its files changes (size, mtime or
 * inode); a mismatch is an ERROR (XX001) with a hint to re-register.
 */
extern const EmbedModel *embed_model_get(const char *name);

/*
 * The sha256 fingerprint (64 hex digits, palloc'd) of the model called
 * name, verified against the files as embed_model_get does.  For the
 * hybrid text index, which records the fingerprint of the model that built
 * it and can then refuse to be used with another.  NULL for the default
 * model when it is not installed.
 */
extern char *embed_model_fingerprint(const char *name);

#endif							/* RETRIEVAL_MODEL_REGISTRY_H */
