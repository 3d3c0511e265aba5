/*-------------------------------------------------------------------------
 *
 * packed_cache.c
 *	  Packed-weight cache files: $PGDATA/pg_retrieval_cache/<key>.p16.
 *
 * A BERT model's matrices are stored [out][in] (PyTorch) and the kernels
 * need them packed (P16, embed_kernels.h).  Packing in every backend would
 * cost each backend a private copy (45 MB for MiniLM-L6), so the first
 * backend that loads a model writes the packed matrices here and every
 * backend maps the file read-only: one copy in the page cache.
 *
 * The key contains the model's verified sha256 fingerprint, so a cache can
 * only ever be used for the files it was packed from.  The file is written
 * under a temporary name and renamed into place; at map time its size,
 * header and CRC-32C are checked (a torn or damaged file is ignored and
 * rewritten), which costs one sequential read of the file per backend.
 *
 * Format: 64-byte header { "RETRP16\0", uint32 version 1, uint32 crc32c of
 * the data, uint64 nfloats, zero padding }, then the floats.
 *
 * XXX: files of unregistered models are not removed (they are only a
 * cache: deleting the directory is always safe while the server runs).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"

#include "packed_cache.h"

#define CACHE_DIR		"pg_retrieval_cache"
#define CACHE_MAGIC		"RETRP16"
#define CACHE_VERSION	1

typedef struct PackedCacheHeader
{
	char		magic[8];
	uint32		version;
	uint32		crc;
	uint64		nfloats;
	char		pad[40];
} PackedCacheHeader;

StaticAssertDecl(sizeof(PackedCacheHeader) == 64, "packed cache header is 64 bytes");

static char *
cache_path(const char *key)
{
	return psprintf("%s/%s.p16", CACHE_DIR, key);
}

static pg_crc32c
data_crc(const float *data, size_t nfloats)
{
	pg_crc32c	crc;
	const char *p = (const char *) data;
	size_t		left = nfloats * sizeof(float);

	INIT_CRC32C(crc);
	while (left > 0)
	{
		size_t		n = Min(left, (size_t) 1 << 24);

		CHECK_FOR_INTERRUPTS();
		COMP_CRC32C(crc, p, n);
		p += n;
		left -= n;
	}
	FIN_CRC32C(crc);
	return crc;
}

const float *
packed_cache_map(const char *key, size_t nfloats, void **map_base, size_t *map_bytes)
{
	char	   *path = cache_path(key);
	int			fd = open(path, O_RDONLY | PG_BINARY);
	struct stat st;
	size_t		want = sizeof(PackedCacheHeader) + nfloats * sizeof(float);
	void	   *base;
	const PackedCacheHeader *h;
	const float *data;

	pfree(path);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || (size_t) st.st_size != want)
	{
		close(fd);
		return NULL;
	}
	base = mmap(NULL, want, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	h = base;
	data = (const float *) ((const char *) base + sizeof(PackedCacheHeader));
	if (memcmp(h->magic, CACHE_MAGIC, sizeof(CACHE_MAGIC)) != 0 || h->version != CACHE_VERSION ||
		h->nfloats != nfloats || h->crc != data_crc(data, nfloats))
	{
		munmap(base, want);
		return NULL;
	}
	*map_base = base;
	*map_bytes = want;
	return data;
}

void
packed_cache_store(const char *key, const float *data, size_t nfloats)
{
	char	   *path = cache_path(key);
	char	   *tmp = psprintf("%s.tmp.%d", path, MyProcPid);
	PackedCacheHeader h;
	int			fd;
	size_t		left = nfloats * sizeof(float);
	const char *p = (const char *) data;
	bool		ok = true;

	if (MakePGDirectory(CACHE_DIR) != 0 && errno != EEXIST)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", CACHE_DIR)));
		return;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CACHE_MAGIC, sizeof(CACHE_MAGIC));
	h.version = CACHE_VERSION;
	h.crc = data_crc(data, nfloats);
	h.nfloats = nfloats;

	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
		return;
	}
	ok = write(fd, &h, sizeof(h)) == (ssize_t) sizeof(h);
	while (ok && left > 0)
	{
		ssize_t		n = write(fd, p, Min(left, (size_t) 1 << 24));

		if (n <= 0)
			ok = false;
		else
		{
			p += n;
			left -= n;
		}
	}
	if (CloseTransientFile(fd) != 0)
		ok = false;
	if (!ok)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
		unlink(tmp);
		return;
	}
	/* durable: fsync file and directory, so a crash never leaves a torn cache */
	if (durable_rename(tmp, path, WARNING) != 0)
		unlink(tmp);
	pfree(tmp);
	pfree(path);
}
