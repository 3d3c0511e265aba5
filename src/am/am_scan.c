/*-------------------------------------------------------------------------
 *
 * am_scan.c
 *	  What every index kind's ordered scan shares: the scan descriptor with
 *	  the ORDER BY value arrays the AM fills, and taking the scan keys of
 *	  amrescan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"

#include "retrieval_am.h"

/*
 * A scan descriptor whose ORDER BY value arrays are allocated (the AM owns
 * them and fills them for every row it returns); no value yet.
 */
IndexScanDesc
retrieval_scan_begin(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);

	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	memset(scan->xs_orderbynulls, true, sizeof(bool) * Max(norderbys, 1));
	return scan;
}

/*
 * Copy amrescan's keys into the descriptor (their counts were fixed at
 * ambeginscan and are in scan->numberOf*).
 */
void
retrieval_scan_set_keys(IndexScanDesc scan, ScanKey keys, ScanKey orderbys)
{
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
}
