/*-------------------------------------------------------------------------
 *
 * packed_cache.h
 *	  Files in the data directory that hold weights already packed into the
 *	  kernels' P16 layout, so that backends map them (shared page cache)
 *	  instead of each packing a private copy.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_PACKED_CACHE_H
#define RETRIEVAL_PACKED_CACHE_H

#include "postgres.h"

/*
 * The cache for key (a model fingerprint plus a layout tag), mapped
 * read-only and validated (size, header, CRC-32C of the data), holding
 * exactly nfloats floats, 64-byte aligned; NULL when absent or invalid.
 * *map_base / *map_bytes receive the mapping for munmap.
 */
extern const float *packed_cache_map(const char *key, size_t nfloats,
									 void **map_base, size_t *map_bytes);

/*
 * Write nfloats floats as the cache for key (temporary file, then rename:
 * concurrent writers and readers never see a partial file).  Failures are
 * a WARNING: the cache is an optimisation.
 */
extern void packed_cache_store(const char *key, const float *data, size_t nfloats);

/*
 * Remove the cache files of the model with this fingerprint (every layout
 * tag) when the current transaction commits; nothing if it aborts.  For
 * retrieval.unregister_model.  Backends that have a file mapped keep their
 * (unlinked) copy; a backend that loads the model later writes it anew.
 */
extern void packed_cache_remove_at_commit(const char *fingerprint);

#endif							/* RETRIEVAL_PACKED_CACHE_H */
