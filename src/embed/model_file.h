/*-------------------------------------------------------------------------
 *
 * model_file.h
 *	  The project's weight file: read-only memory mapping and validation.
 *
 * Format (docs/architecture.md, "src/embed/"; writer: convert_use_lite.mjs):
 * a 64-byte header, one 64-byte directory entry per tensor, then the tensor
 * data, each tensor at a 64-byte aligned offset, little-endian.  The file is
 * mapped PROT_READ/MAP_SHARED, so every backend shares the one copy in the
 * page cache and private memory stays small.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_MODEL_FILE_H
#define RETRIEVAL_MODEL_FILE_H

#include "postgres.h"

#define MODEL_FILE_MAGIC		"RETRMODL"
#define MODEL_FILE_VERSION		1

#define MODEL_DT_F32	1
#define MODEL_DT_F64	2
#define MODEL_DT_U8		3
#define MODEL_DT_U32	4

#define MODEL_LAYOUT_ROWMAJOR	0
#define MODEL_LAYOUT_P16		1	/* packed panels, see embed_kernels.h */

typedef struct ModelFileHeader
{
	char		magic[8];
	uint32		version;
	uint32		byte_order;		/* 0x01020304 as written */
	uint32		header_bytes;	/* 64 */
	uint32		n_tensors;
	uint64		file_bytes;
	char		arch[16];		/* e.g. "use-lite", NUL-padded */
	uint32		dims;			/* output dimensions */
	uint32		max_tokens;
	uint32		vocab_size;
	uint32		reserved;
} ModelFileHeader;

typedef struct ModelFileEntry
{
	char		name[40];		/* NUL-padded */
	uint32		dtype;			/* MODEL_DT_* */
	uint32		layout;			/* MODEL_LAYOUT_* */
	uint32		rows;
	uint32		cols;
	uint64		offset;			/* from the start of the file, 64-aligned */
} ModelFileEntry;

typedef struct ModelFile
{
	char	   *path;			/* palloc'd in the caller's context */
	const char *base;			/* the mapping */
	size_t		size;
	const ModelFileHeader *header;
	const ModelFileEntry *entries;
} ModelFile;

/*
 * Map and validate the file.  ERROR (58P01) if it does not exist, with
 * missing_hint as the hint; ERROR (XX001) if it is not a valid model file.
 */
extern void model_file_open(ModelFile *mf, const char *path, const char *missing_hint);

/*
 * The data of a tensor, checked against the expected type, layout and shape
 * (ERROR XX001 on mismatch or absence); rows or cols 0 means "any".
 */
extern const void *model_file_tensor(const ModelFile *mf, const char *name,
									 uint32 dtype, uint32 layout,
									 uint32 rows, uint32 cols);

/* The row count of a tensor (for tensors whose length the file decides). */
extern uint32 model_file_tensor_rows(const ModelFile *mf, const char *name);

#endif							/* RETRIEVAL_MODEL_FILE_H */
