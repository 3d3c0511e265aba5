/*-------------------------------------------------------------------------
 *
 * hnsw.h
 *	  HNSW graphs: the ANN index kind of the retrieval access method.
 *
 * Design notes
 * ------------
 * The graph algorithms (layer search, neighbour selection, insertion) are
 * written once, in hnsw_graph.c, against HnswGraph: a small table of
 * callbacks that answers "distance from the query to node", "neighbours of
 * node at level" and "distance between two nodes".  The build implements
 * it over an in-memory graph (hnsw_build.c, layout in hnsw_build.h; shared
 * by parallel workers), inserts, scans and VACUUM over index pages
 * (hnsw_disk.c).  Nothing in the algorithms knows where vectors
 * come from, so the hybrid text index can reuse them with embeddings.
 * Index pages are read through hnsw_buffers.c, which remembers per backend
 * which shared buffer held each block and prefetches what a search is about
 * to read (per-query CPU is dominated by first touches of pages).
 *
 * On disk (format version 1), after the common metapage (block 0):
 *	- codec pages (binary only): the codec's parameters (the centre of the
 *	  build rows), as float arrays in one codec tuple per page, chained from
 *	  meta->codec_page;
 *	- an element tuple per indexed row: heap TID, level, deleted flag, the
 *	  TID of its neighbour tuple, then the vector data (below);
 *	- a neighbour tuple per element: (level + 2) * m slots of element TIDs,
 *	  2m for layer 0 then m for each upper layer; unused slots are invalid.
 * An element and its neighbour tuple share a page whenever they fit, so
 * expanding a node costs one buffer access.  Elements are identified by the
 * TID of their element tuple.
 *
 * What an element stores, per quantization mode (HnswLayout):
 *	- none (the default): the float4 vector (unit length for cosine); graph
 *	  distances are exact, so scans return them without re-ranking.  Up to
 *	  2,034 dimensions (the element must fit on a page).
 *	- sq8: the 8-bit code only (dims bytes + 16: the vector's
 *	  own range, so nothing is trained); binary: the 1-bit code only (dims
 *	  rounded up to a power of two, / 8, + 8 bytes).  Traversal compares
 *	  the float query with codes; each round's candidates are then
 *	  re-ranked with exact distances computed from the full-precision vector
 *	  read from the HEAP row (the table already holds it: storing it again
 *	  is what makes pgvector's indexes large).  That is also what lifts the
 *	  dimension limit: sq8 up to 8,120 dimensions, binary up to 16,000.
 *	  Node-to-node distances (insert pruning, VACUUM repair) use the decoded
 *	  sq8 vector, and for binary (which decodes to a direction only) the
 *	  heap row's vector.
 *	- sq8 / binary on an expression index: the expression's value is not in
 *	  the heap row and re-evaluating it per candidate would be costly and
 *	  could be volatile, so such an index stores the float4 vector after the
 *	  code and re-ranks from it (flag HNSW_META_VECTORS_IN_INDEX); its
 *	  dimension limit is then the 'none' one.
 * The metapage fields added for quantization come after the version-1
 * ones and are zero in indexes created by 0.1.0, which read as 'none' with
 * vectors in the index: the format version did not change.
 *
 * Distances inside the graph are "ordering distances": squared L2 for
 * <->, negative inner product for <#>, 1 - dot product of unit vectors for
 * <=>.  The scan converts them to the operator's value.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_HNSW_H
#define RETRIEVAL_HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "nodes/execnodes.h"
#include "storage/buf.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "../am/retrieval_am.h"
#include "../page/index_page.h"
#include "../embed/embed_index_stamp.h"
#include "../quantize/quantize.h"

#define HNSW_FORMAT_VERSION		1
#define HNSW_MAX_LEVEL			15
#define HNSW_DEFAULT_EF_SEARCH	40
#define HNSW_MAX_EF_SEARCH		1000
#define VECTOR_MAX_DIM_FOR_HNSW	16000

#define HNSW_ELEMENT_TUPLE		1
#define HNSW_NEIGHBOR_TUPLE		2

typedef enum HnswMetric
{
	HNSW_METRIC_L2 = 1,
	HNSW_METRIC_IP = 2,
	HNSW_METRIC_COSINE = 3
} HnswMetric;

/* Contents of the metapage after the common header. */
typedef struct HnswMetaData
{
	RetrievalMetaHeader header;
	uint32		dims;
	uint16		m;
	uint16		ef_construction;
	uint16		metric;			/* HnswMetric */
	int16		entry_level;	/* -1 when the graph is empty */
	ItemPointerData entry;		/* entry point element, invalid when empty */
	BlockNumber insert_page;	/* last page: where inserts try first */
	/* quantization (zero in indexes created by 0.1.0: none) */
	uint16		quantization;	/* QuantKind */
	uint16		flags;			/* HNSW_META_* */
	BlockNumber codec_page;		/* first codec page, or 0 (none) */
	uint32		codec_rows;		/* rows the codec was trained on */
	/* the embedding model of the indexed expression (zero before 0.2.0) */
	EmbedModelStamp model;
} HnswMetaData;

/* quantized index that keeps float vectors after the codes (expressions) */
#define HNSW_META_VECTORS_IN_INDEX	0x0001

typedef struct HnswElementTupleData
{
	uint8		type;			/* HNSW_ELEMENT_TUPLE */
	uint8		level;
	uint8		deleted;		/* set by VACUUM; never returned again */
	uint8		unused;
	ItemPointerData heaptid;
	ItemPointerData neighbortid;
	float		vec[FLEXIBLE_ARRAY_MEMBER];
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

/* What an element tuple holds after its header (see the design notes). */
typedef struct HnswLayout
{
	int			dims;
	QuantKind	quant;
	bool		has_vector;		/* float4 vector first in vec[] */
	int			code_bytes;		/* then the code (0 for none) */
	Size		element_size;
} HnswLayout;

extern void hnsw_layout_init(HnswLayout *layout, int dims, QuantKind quant, bool has_vector);
extern void hnsw_layout_from_meta(HnswLayout *layout, const HnswMetaData *meta);

static inline uint8 *
hnsw_element_code(HnswElementTuple etup, const HnswLayout *layout)
{
	return (uint8 *) (etup->vec + (layout->has_vector ? layout->dims : 0));
}

/* Codec pages hold one of these each. */
#define HNSW_CODEC_TUPLE		3
typedef struct HnswCodecTupleData
{
	uint8		type;			/* HNSW_CODEC_TUPLE */
	uint8		unused[3];
	uint32		count;			/* floats in this tuple */
	float		values[FLEXIBLE_ARRAY_MEMBER];
} HnswCodecTupleData;

typedef struct HnswNeighborTupleData
{
	uint8		type;			/* HNSW_NEIGHBOR_TUPLE */
	uint8		unused;
	uint16		count;			/* number of slots: (level + 2) * m */
	ItemPointerData tids[FLEXIBLE_ARRAY_MEMBER];
} HnswNeighborTupleData;

typedef HnswNeighborTupleData *HnswNeighborTuple;

#define HNSW_NEIGHBOR_TUPLE_SIZE(level, m) \
	MAXALIGN(offsetof(HnswNeighborTupleData, tids) + sizeof(ItemPointerData) * ((level) + 2) * (m))

/* Slots of layer `level` in a neighbour list of an element with m. */
static inline int
hnsw_layer_capacity(int level, int m)
{
	return level == 0 ? 2 * m : m;
}

static inline int
hnsw_layer_offset(int level, int m)
{
	return level == 0 ? 0 : 2 * m + (level - 1) * m;
}

/*
 * Block of the HNSW metapage: block 0 of a vector index; block 1 of a
 * hybrid text index, whose block 0 is the BM25 metapage and whose dense
 * part is an HNSW graph in the same relation (src/fusion/hybrid.h).
 */
#define HNSW_HYBRID_META_BLKNO	1

static inline BlockNumber
hnsw_meta_blkno(Relation index)
{
	return retrieval_opclass_code(index) == OPCLASS_TEXT_BM25 ?
		HNSW_HYBRID_META_BLKNO : RETRIEVAL_META_BLKNO;
}

/* ------------------------------------------------------------------------
 * Graph algorithms over an abstract graph (hnsw_graph.c)
 * ------------------------------------------------------------------------
 */

typedef uint64 HnswNode;

#define HNSW_INVALID_NODE	PG_UINT64_MAX

static inline HnswNode
hnsw_node_from_tid(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
}

static inline void
hnsw_node_to_tid(HnswNode node, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (node >> 16), (OffsetNumber) (node & 0xFFFF));
}

/*
 * Hash of a node id for simplehash tables: one multiplication (Fibonacci
 * hashing, the product's upper half).  Node ids are block << 16 | offset,
 * under 48 bits, and every bit of them reaches the bits a table masks.
 * A search hashes each visited node several times, so this is on the
 * per-query path.
 */
static inline uint32
hnsw_node_hash(HnswNode node)
{
	return (uint32) ((node * UINT64CONST(0x9E3779B97F4A7C15)) >> 29);
}

typedef struct HnswCandidate
{
	HnswNode	node;
	float		distance;
} HnswCandidate;

/* A binary heap of candidates, ordered nearest-first or furthest-first. */
typedef struct HnswHeap
{
	HnswCandidate *items;
	int			count;
	int			capacity;
	bool		furthest_first;
} HnswHeap;

typedef struct HnswGraph HnswGraph;

struct HnswGraph
{
	int			m;
	/* ordering distance from the current query to node */
	float		(*query_distance) (HnswGraph *graph, HnswNode node);
	/* copy node's neighbours at level into out (room for 2m); return count */
	int			(*neighbors) (HnswGraph *graph, HnswNode node, int level, HnswNode *out);
	/* ordering distance between two nodes */
	float		(*pair_distance) (HnswGraph *graph, HnswNode a, HnswNode b);
	/* mark node visited; true if it was not visited before */
	bool		(*visit) (HnswGraph *graph, HnswNode node);
	/* forget every visit (a new search starts) */
	void		(*reset_visits) (HnswGraph *graph);
	/* optional: start loading node's vector into cache (may be NULL) */
	void		(*prefetch) (HnswGraph *graph, HnswNode node);
	/* optional: start loading node's neighbour list on level (may be NULL) */
	void		(*prefetch_neighbors) (HnswGraph *graph, HnswNode node, int level);
};

/*
 * A best-first search on one layer that can be resumed: after a round has
 * produced its ef best candidates, the next round continues from the
 * candidates it discarded, so an ordering scan can keep streaming rows in
 * (approximately) increasing distance when filters reject some.  A search
 * that is not resumable (build, insert, descent: one round) keeps no
 * discarded candidates at all.
 */
typedef struct HnswSearch
{
	int			level;
	bool		resumable;		/* keep what a round discards for the next */
	HnswHeap	pending;		/* unexpanded candidates, nearest first */
	HnswHeap	results;		/* this round's best, furthest first */
	HnswHeap	discarded;		/* visited, not yet returned: an unordered
								 * bag (the next round reads all of it) */
} HnswSearch;

extern void hnsw_heap_init(HnswHeap *heap, int capacity, bool furthest_first);
extern void hnsw_heap_push(HnswHeap *heap, HnswNode node, float distance);
extern HnswCandidate hnsw_heap_pop(HnswHeap *heap);
extern HnswCandidate hnsw_heap_replace_top(HnswHeap *heap, HnswNode node, float distance);
extern void hnsw_heap_free(HnswHeap *heap);

extern void hnsw_search_begin(HnswGraph *graph, HnswSearch *search, int level,
							  const HnswCandidate *entries, int nentries, bool resumable);
extern int	hnsw_search_round(HnswGraph *graph, HnswSearch *search, int ef,
							  HnswCandidate *out);
typedef int (*HnswNumberedNeighbors) (void *arg, uint32 element, uint32 *out);
extern void hnsw_mark_reachable(uint32 start, bool *reached, uint32 *queue, uint32 *out,
								HnswNumberedNeighbors neighbors, void *arg);
extern int	hnsw_search_next_round(HnswGraph *graph, HnswSearch *search, int ef,
								   HnswCandidate *out, HnswNode entry);
extern void hnsw_search_end(HnswSearch *search);
extern int	hnsw_search_layer(HnswGraph *graph, const HnswCandidate *entries, int nentries,
							  int ef, int level, HnswCandidate *out);
extern HnswCandidate hnsw_descend(HnswGraph *graph, HnswCandidate entry, int from_level,
								  int to_level);
extern int	hnsw_select_neighbors(HnswGraph *graph, HnswNode base, HnswCandidate *candidates,
								  int ncandidates, int max_neighbors, HnswNode *out);
extern int	hnsw_random_level(pg_prng_state *state, int m);
extern void hnsw_sort_candidates(HnswCandidate *candidates, int n);

/* ------------------------------------------------------------------------
 * Distances (hnsw_distance.c)
 * ------------------------------------------------------------------------
 */
extern HnswMetric hnsw_metric_for_index(Relation index);
extern float hnsw_distance(HnswMetric metric, const float *a, const float *b, int dims);
extern double hnsw_operator_value(HnswMetric metric, float distance);
extern bool hnsw_prepare_vector(HnswMetric metric, const float *in, float *out, int dims);

/* ------------------------------------------------------------------------
 * Index pages (hnsw_disk.c)
 * ------------------------------------------------------------------------
 */
extern void hnsw_meta_read(Relation index, HnswMetaData *meta);
extern void hnsw_meta_init_page(Page page, int dims, int m, int ef_construction, HnswMetric metric,
								QuantKind quant, uint16 flags);
extern int	hnsw_max_dims(QuantKind quant, bool has_vector);
extern QuantCodec *hnsw_codec_read(Relation index, const HnswMetaData *meta);
extern BlockNumber hnsw_codec_write(Relation index, ForkNumber fork, const QuantCodec *codec);
extern Size hnsw_page_capacity(void);

/* both tuples of an element on one page? */
static inline bool
hnsw_tuples_fit_together(Size esize, Size nsize)
{
	return esize + nsize + sizeof(ItemIdData) <= hnsw_page_capacity();
}

typedef struct HnswDiskGraph HnswDiskGraph;

/* Index pages through remembered shared buffers (hnsw_buffers.c) */
typedef struct HnswBufferHints HnswBufferHints;

extern HnswBufferHints *hnsw_buffer_hints(Relation index);
extern Buffer hnsw_read_buffer(Relation index, HnswBufferHints *hints, BlockNumber blkno);
extern void hnsw_prefetch_item(HnswBufferHints *hints, ItemPointer tid);
extern void hnsw_prefetch_tuple(HnswBufferHints *hints, ItemPointer tid, Size bytes);

extern HnswDiskGraph *hnsw_disk_graph_create(Relation index, const HnswMetaData *meta,
											 bool keep_vectors);
extern HnswGraph *hnsw_disk_graph_base(HnswDiskGraph *dg);
extern void hnsw_disk_graph_set_query(HnswDiskGraph *dg, const float *query);
extern bool hnsw_disk_element_info(HnswDiskGraph *dg, HnswNode node, ItemPointer heaptid,
								   int *level);
extern void hnsw_disk_graph_destroy(HnswDiskGraph *dg);
extern const float *hnsw_disk_node_vector(HnswDiskGraph *dg, HnswNode node);
extern int	hnsw_disk_read_layer(Relation index, BufferAccessStrategy strategy,
								 ItemPointer neighbortid, int level, int m, HnswNode *out);
extern const QuantCodec *hnsw_disk_graph_codec(HnswDiskGraph *dg);

extern void hnsw_disk_find_neighbors(HnswDiskGraph *dg, const HnswMetaData *meta,
									 const float *vec, int level, int ef,
									 HnswNode **neighbors, int *counts);
extern bool hnsw_disk_add_link(Relation index, HnswDiskGraph *dg, HnswNode node,
							   int level, HnswNode newnode, int m, bool force, bool building);
extern bool hnsw_disk_write_layer(Relation index, ItemPointer neighbortid, int level, int m,
								  const HnswNode *nodes, int count,
								  const HnswNode *expected, int nexpected, bool building);

/* ------------------------------------------------------------------------
 * AM callbacks
 * ------------------------------------------------------------------------
 */
extern int	hnsw_ef_search;

extern void hnsw_settings_init(void);
extern IndexBuildResult *hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo);
extern void hnsw_buildempty(Relation index);
extern bool hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
						bool indexUnchanged,
#endif
						IndexInfo *indexInfo);
extern bool hnsw_insert_vector(Relation index, const float *vec, int dims, ItemPointer heap_tid,
							   bool building, ItemPointer elemtid);

/* hnsw_vacuum.c: every element tuple, page by page under a share lock */
typedef void (*HnswElementVisitor) (void *arg, HnswNode node, HnswElementTuple etup);
extern void hnsw_for_each_element(Relation index, BufferAccessStrategy strategy,
								  HnswElementVisitor visit, void *arg);

/*
 * VACUUM with a report of the dead set: on_dead(arg, element) is called for
 * every element that is dead after this VACUUM (newly dead or deleted by an
 * earlier one), before they are marked deleted.
 */
typedef void (*HnswDeadVisitor) (void *arg, ItemPointer elemtid);
extern IndexBulkDeleteResult *hnsw_bulkdelete_report(IndexVacuumInfo *info,
													 IndexBulkDeleteResult *stats,
													 IndexBulkDeleteCallback callback,
													 void *callback_state,
													 HnswDeadVisitor on_dead, void *arg);
extern IndexBulkDeleteResult *hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *hnsw_vacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);
extern void hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							  Cost *indexStartupCost, Cost *indexTotalCost,
							  Selectivity *indexSelectivity, double *indexCorrelation,
							  double *indexPages);
extern IndexScanDesc hnsw_beginscan(Relation index, int nkeys, int norderbys);
extern void hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						int norderbys);
extern bool hnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnsw_endscan(IndexScanDesc scan);

#endif							/* RETRIEVAL_HNSW_H */
