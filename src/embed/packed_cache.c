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
 * retrieval.unregister_model removes the files of its fingerprint when its
 * transaction commits, unless another name in the same database's registry
 * has the same fingerprint.  Removing is always safe: a backend that has the
 * file mapped keeps its unlinked copy (Linux semantics), and the next load
 * packs and writes it again.  XXX: the registry is per database and this
 * directory per cluster, so unregistering a model in one database also
 * removes the cache of the same files registered in another one (which then
 * costs one repack); a savepoint rolled back after unregister_model does not
 * cancel the removal (same cost).  Files of models registered before this
 * cleanup existed stay until removed by hand (deleting the directory is
 * always safe while the server runs).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/memutils.h"

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

/* ---------------------------------------------------------------------
 * Removal at commit
 * ---------------------------------------------------------------------
 */

/* fingerprints whose files go when this transaction commits (TopMemoryContext) */
static List *pending_removal = NIL;
static bool callback_registered = false;

/*
 * Unlink CACHE_DIR/<fingerprint>-*.p16.  Runs after the commit record is
 * written, where an ERROR is not allowed: failures are only logged.
 */
static void
remove_files(const char *fingerprint)
{
	size_t		len = strlen(fingerprint);
	DIR		   *dir = AllocateDir(CACHE_DIR);
	struct dirent *de;

	if (dir == NULL)
		return;					/* no cache directory: nothing to remove */
	while ((de = ReadDirExtended(dir, CACHE_DIR, LOG)) != NULL)
	{
		const char *name = de->d_name;
		size_t		nlen = strlen(name);
		char		path[MAXPGPATH];

		if (nlen <= len + 5 || strncmp(name, fingerprint, len) != 0 || name[len] != '-' ||
			strcmp(name + nlen - 4, ".p16") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", CACHE_DIR, name);
		if (unlink(path) != 0 && errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", path)));
	}
	FreeDir(dir);
}

static void
packed_cache_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	(void) arg;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (event == XACT_EVENT_COMMIT)
		foreach(lc, pending_removal)
			remove_files(lfirst(lc));
	list_free_deep(pending_removal);
	pending_removal = NIL;
}

void
packed_cache_remove_at_commit(const char *fingerprint)
{
	MemoryContext old;

	if (!callback_registered)
	{
		RegisterXactCallback(packed_cache_xact_callback, NULL);
		callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_removal = lappend(pending_removal, pstrdup(fingerprint));
	MemoryContextSwitchTo(old);
}
