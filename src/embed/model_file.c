/*-------------------------------------------------------------------------
 *
 * model_file.c
 *	  Maps a weight file read-only and validates its header and directory.
 *
 * Everything a corrupted or truncated file could make the engine read out of
 * bounds is checked here once, at load: sizes, offsets, alignment, shapes.
 * The forward pass then trusts the pointers it got from model_file_tensor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_file.h"

StaticAssertDecl(sizeof(ModelFileHeader) == 64, "model file header is 64 bytes");
StaticAssertDecl(sizeof(ModelFileEntry) == 64, "model file entry is 64 bytes");

static size_t
dtype_size(uint32 dtype)
{
	switch (dtype)
	{
		case MODEL_DT_F32:
		case MODEL_DT_U32:
			return 4;
		case MODEL_DT_F64:
			return 8;
		case MODEL_DT_U8:
			return 1;
		default:
			return 0;
	}
}

/* NULL if valid, else what is wrong (a constant string). */
static const char *
validate(const char *base, size_t size)
{
	const ModelFileHeader *h = (const ModelFileHeader *) base;
	const ModelFileEntry *e;

	if (size < sizeof(ModelFileHeader))
		return "file shorter than its header";
	if (memcmp(h->magic, MODEL_FILE_MAGIC, 8) != 0)
		return "not a retrieval model file (bad magic)";
	if (h->byte_order != 0x01020304)
		return "written for a different byte order";
	if (h->version != MODEL_FILE_VERSION)
		return "unsupported format version";
	if (h->header_bytes != sizeof(ModelFileHeader) || h->file_bytes != size)
		return "header size or file size mismatch (truncated file?)";
	if (h->n_tensors == 0 || h->n_tensors > 4096 ||
		sizeof(ModelFileHeader) + (size_t) h->n_tensors * sizeof(ModelFileEntry) > size)
		return "bad tensor count";
	e = (const ModelFileEntry *) (base + sizeof(ModelFileHeader));
	for (uint32 i = 0; i < h->n_tensors; i++)
	{
		size_t		es = dtype_size(e[i].dtype);
		uint64		bytes = (uint64) e[i].rows * e[i].cols * es;

		if (es == 0 || memchr(e[i].name, '\0', sizeof(e[i].name)) == NULL)
			return "bad tensor entry";
		if (e[i].offset % 64 != 0 || e[i].offset > size || bytes > size - e[i].offset)
			return "tensor outside the file or misaligned";
		if (e[i].layout == MODEL_LAYOUT_P16 && (e[i].cols % 16 != 0 || e[i].dtype != MODEL_DT_F32))
			return "bad packed tensor";
	}
	return NULL;
}

void
model_file_open(ModelFile *mf, const char *path, const char *missing_hint)
{
	int			fd;
	struct stat st;
	void	   *base;
	const char *problem;

	fd = open(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("embedding model file \"%s\" does not exist", path),
					 missing_hint ? errhint("%s", missing_hint) : 0));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open embedding model file \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0)
	{
		int			save_errno = errno;

		close(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat embedding model file \"%s\": %m", path)));
	}
	if (st.st_size < (off_t) sizeof(ModelFileHeader))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding model file \"%s\" is invalid: %s", path, "file shorter than its header")));
	}

	/*
	 * Shared read-only mapping: pages come from the page cache and are shared
	 * by every backend (and every cluster on the machine) using the file.
	 */
	base = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not map embedding model file \"%s\": %m", path)));

	problem = validate(base, (size_t) st.st_size);
	if (problem)
	{
		munmap(base, (size_t) st.st_size);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding model file \"%s\" is invalid: %s", path, problem),
				 errhint("Rebuild and reinstall it: make clean-model model && make install.")));
	}

	mf->path = pstrdup(path);
	mf->base = base;
	mf->size = (size_t) st.st_size;
	mf->header = (const ModelFileHeader *) base;
	mf->entries = (const ModelFileEntry *) ((const char *) base + sizeof(ModelFileHeader));
}

const void *
model_file_tensor(const ModelFile *mf, const char *name, uint32 dtype,
				  uint32 layout, uint32 rows, uint32 cols)
{
	for (uint32 i = 0; i < mf->header->n_tensors; i++)
	{
		const ModelFileEntry *e = &mf->entries[i];

		if (strcmp(e->name, name) != 0)
			continue;
		if (e->dtype != dtype || e->layout != layout ||
			(rows != 0 && e->rows != rows) ||
			(cols != 0 && e->cols != cols))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("embedding model file \"%s\" is invalid: tensor \"%s\" has an unexpected type or shape",
							mf->path, name)));
		return mf->base + e->offset;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("embedding model file \"%s\" is invalid: tensor \"%s\" is missing",
					mf->path, name)));
	return NULL;				/* keep compiler quiet */
}

uint32
model_file_tensor_rows(const ModelFile *mf, const char *name)
{
	for (uint32 i = 0; i < mf->header->n_tensors; i++)
		if (strcmp(mf->entries[i].name, name) == 0)
			return mf->entries[i].rows;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("embedding model file \"%s\" is invalid: tensor \"%s\" is missing",
					mf->path, name)));
	return 0;					/* keep compiler quiet */
}
