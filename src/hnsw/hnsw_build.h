/*-------------------------------------------------------------------------
 *
 * hnsw_build.h
 *	  The in-memory graph of an HNSW build, shared by the serial build
 *	  (hnsw_build.c) and the parallel build (hnsw_build_parallel.c).
 *
 * One layout serves both: elements, vectors and layer-0 lists in arrays
 * indexed by element number, upper-layer lists in one "upper arena"
 * addressed by offsets.  Nothing in it is a pointer, so the parallel build
 * places the same arrays in a dynamic shared memory segment that each
 * participant maps at its own address; a participant's HnswBuildState
 * holds pointers into its own mapping.  The insertion code in
 * hnsw_build.c takes the per-element and entry-point locks only when
 * bs->shared is set, so the serial build pays nothing for them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_HNSW_BUILD_H
#define RETRIEVAL_HNSW_BUILD_H

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "hnsw.h"

/*
 * The hot data of the in-memory graph (vectors, layer-0 lists, visit tags)
 * lives in flat chunked arrays indexed by element number, so a search
 * touches the vector or list it needs without first chasing a per-element
 * pointer: on graphs larger than the CPU caches, every avoided pointer
 * chase is an avoided cache miss.  Upper layers are rare (1/m of elements)
 * and live in the upper arena.
 */
#define HNSW_BUILD_CHUNK_SHIFT	10
#define HNSW_BUILD_CHUNK_SIZE	(1 << HNSW_BUILD_CHUNK_SHIFT)
#define HNSW_BUILD_CHUNK_MASK	(HNSW_BUILD_CHUNK_SIZE - 1)

/*
 * Visited marks of a build's searches: an element is visited by the current
 * search when its tag equals the search's.  Two bytes, not four: the array
 * is read at random once per neighbour looked at, and at 200k elements it
 * then fits in L2 (400 kB instead of 800 kB); the tags wrap every 65,535
 * searches, when the array is cleared.
 */
typedef uint16 VisitTag;

typedef struct BuildElement
{
	ItemPointerData heaptid;
	ItemPointerData elemtid;	/* assigned when written */
	ItemPointerData neighbortid;
	uint8		level;
	/* levels 1..level in the upper arena: level counts, then m slots each */
	uint32		upper;
} BuildElement;

/* upper-arena uint32s of an element of this level */
static inline Size
hnsw_build_upper_words(int level, int m)
{
	return (Size) level * (1 + m);
}

/*
 * State of a parallel build in the DSM segment.  The graph arrays follow in
 * a chunk of their own, at the offsets given here.
 */
typedef struct HnswBuildShared
{
	/* set by the leader before launching, read-only afterwards */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			lock_tranche;
	uint32		capacity;		/* elements (a multiple of the chunk size) */
	Size		upper_capacity; /* uint32s in the upper arena */
	Size		elements_off;	/* offsets in the graph chunk */
	Size		locks_off;
	Size		vectors_off;
	Size		l0_off;
	Size		upper_off;

	/* allocation of elements and upper-arena space */
	slock_t		mutex;
	uint32		nelements;
	Size		upper_used;
	bool		full;			/* an allocation failed: no more in memory */

	/* entry point, under entry_lock */
	LWLock		entry_lock;
	int64		entry;
	int			entry_level;

	/*
	 * In-memory inserts hold flush_lock shared; the participant that finds
	 * the graph full takes it exclusively, writes the graph and sets
	 * flushed, after which everyone inserts on disk.
	 */
	LWLock		flush_lock;
	bool		flushed;

	pg_atomic_uint64 tuples_done;	/* progress, all participants */

	/* results, under mutex */
	int			nparticipants_done;
	double		reltuples;
	double		indtuples;
	ConditionVariable done_cv;

	/* ParallelTableScanDescData follows at BUFFERALIGN(sizeof(HnswBuildShared)) */
} HnswBuildShared;

typedef struct HnswBuildState HnswBuildState;

/*
 * Where the vectors of the rows come from.  NULL: the indexed value is a
 * vector.  The hybrid text index embeds text (src/fusion/hybrid_embed.c),
 * in batches: add() may hold rows back and finish() hands over the rest,
 * each through hnsw_build_add_vector().
 */
typedef struct HnswRowSource HnswRowSource;
struct HnswRowSource
{
	int			dims;
	void		(*add) (HnswRowSource *src, HnswBuildState *bs, ItemPointer tid, Datum value);
	void		(*finish) (HnswRowSource *src, HnswBuildState *bs);
};

struct HnswBuildState
{
	HnswGraph	graph;			/* must be first: callbacks cast back */
	Relation	heap;
	Relation	index;
	HnswMetric	metric;
	int			dims;
	int			m;
	int			ef_construction;
	QuantCodec *codec;			/* NULL for none; trained in write_graph() */
	HnswLayout	layout;

	BuildElement *elements;
	uint32		nelements;
	uint32		capacity;
	float	  **vec_chunks;		/* CHUNK_SIZE vectors each */
	uint32	  **l0_chunks;		/* CHUNK_SIZE x (1 + 2m): count, then slots */
	int			nchunks;
	uint32	   *upper_base;		/* the upper arena */
	Size		upper_used;		/* serial build only (parallel: in shared) */
	Size		upper_capacity;
	int64		entry;			/* element number, -1 when empty */
	int			entry_level;

	const float *query;
	VisitTag   *visit_tags;		/* per element: the search that last visited it */
	VisitTag	visit_tag;		/* the current search's tag */

	Size		memory_used;
	Size		memory_limit;
	bool		spilled;		/* graph written; rows now go to disk */

	/* parallel build: the shared state and the element locks; else NULL */
	HnswBuildShared *shared;
	LWLock	   *locks;

	/* levels come from a fixed seed: a serial build is reproducible */
	pg_prng_state prng;
	double		reltuples;
	double		indtuples;
	float	   *scratch;
	HnswCandidate *found;
	HnswCandidate *entries;
	HnswCandidate *cands;
	HnswNode   *selected;
	HnswNode   *links;			/* the new element's neighbours, 2m per layer */
	MemoryContext graph_context;
	MemoryContext tuple_context;
	HnswRowSource *source;		/* NULL: the column is a vector */
};

/* hnsw_build.c */
extern void hnsw_build_state_init(HnswBuildState *bs, Relation heap, Relation index);
extern void hnsw_build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
								bool tupleIsAlive, void *state);
extern void hnsw_build_write_graph(HnswBuildState *bs);
extern void hnsw_build_add_vector(HnswBuildState *bs, ItemPointer tid, const float *vec, int dims);
extern void hnsw_build_finish_rows(HnswBuildState *bs);
extern void hnsw_buildempty_graph(Relation index, int dims, const EmbedModelStamp *stamp);
extern void hnsw_build_graph(Relation heap, Relation index, IndexInfo *indexInfo,
							 const EmbedModelStamp *stamp, double *reltuples,
							 double *indtuples);

/* src/fusion/hybrid_embed.c: the rows of a hybrid text index, embedded */
extern HnswRowSource *hybrid_embed_source(Relation index);

/* hnsw_build_parallel.c */
extern int	hnsw_parallel_workers(Relation heap, Relation index);
extern bool hnsw_parallel_build(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers);
extern bool hnsw_parallel_reserve(HnswBuildState *bs, int level, uint32 *id);
extern void hnsw_parallel_sync(HnswBuildState *bs);

#endif							/* RETRIEVAL_HNSW_BUILD_H */
