/*-------------------------------------------------------------------------
 *
 * embed_index_stamp.c
 *	  Record in an index which embedding model its expression uses, and
 *	  refuse the index once that name means another model.
 *
 * The model is found by walking the index expressions for calls of the
 * extension's C function behind retrieval.embed (prosrc retrieval_embed or
 * retrieval_embed_array): one argument means the default model, two
 * arguments with a constant second one name a registered model.  The
 * fingerprint recorded is the registry's (verified against the files, as
 * embed() does), taken when the index is built; the check runs when a scan
 * starts and before an insert, which cost one registry lookup each (the
 * embed() call in the same statement pays the same lookup anyway).
 *
 * XXX: a model name computed at run time (not a constant) cannot be
 * recorded; neither can the model of a stored generated column that a plain
 * column index reads (the vectors are data there).  Only the first of
 * several distinct models in one expression is recorded and checked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "embed_index_stamp.h"
#include "model_registry.h"

/* Is funcid one of the C functions behind retrieval.embed? */
static bool
is_embed_function(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

		if (proc->prolang == ClanguageId && proc->pronargs >= 1 && proc->pronargs <= 2)
		{
			bool		isnull;
			Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
			Datum		bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);

			if (!isnull)
			{
				char	   *prosrc = TextDatumGetCString(src);
				char	   *probin = TextDatumGetCString(bin);

				/* our library, whatever directory it was installed in */
				result = (strcmp(prosrc, "retrieval_embed") == 0 ||
						  strcmp(prosrc, "retrieval_embed_array") == 0) &&
					strstr(probin, "retrieval") != NULL;
			}
		}
		ReleaseSysCache(tup);
	}
	return result;
}

typedef struct StampWalk
{
	EmbedModelStamp *stamp;
} StampWalk;

static void
record_model(EmbedModelStamp *stamp, const char *name)
{
	char	   *sha;

	if (stamp->flags & EMBED_STAMP_RECORDED)
	{
		if (strcmp(stamp->name, name) != 0)
			stamp->flags |= EMBED_STAMP_SEVERAL_MODELS;
		return;
	}
	if (strlen(name) >= sizeof(stamp->name))
	{
		/* longer than any registrable name: embed() rejects it anyway */
		stamp->flags |= EMBED_STAMP_UNKNOWN_MODEL;
		return;
	}
	sha = embed_model_fingerprint(name);
	if (sha == NULL)
		return;					/* default model not installed: nothing to record */
	strlcpy(stamp->name, name, sizeof(stamp->name));
	strlcpy(stamp->sha256, sha, sizeof(stamp->sha256));
	stamp->flags |= EMBED_STAMP_RECORDED;
}

static bool
stamp_walker(Node *node, StampWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;

		if (is_embed_function(f->funcid))
		{
			if (list_length(f->args) == 1)
				record_model(walk->stamp, EMBED_DEFAULT_MODEL);
			else
			{
				Node	   *arg = (Node *) lsecond(f->args);

				if (IsA(arg, Const) && !((Const *) arg)->constisnull)
					record_model(walk->stamp,
								 TextDatumGetCString(((Const *) arg)->constvalue));
				else
					walk->stamp->flags |= EMBED_STAMP_UNKNOWN_MODEL;
			}
		}
	}
	return expression_tree_walker(node, stamp_walker, (void *) walk);
}

void
embed_stamp_for_model(const char *name, EmbedModelStamp *stamp)
{
	memset(stamp, 0, sizeof(EmbedModelStamp));
	record_model(stamp, name);
}

void
embed_stamp_for_index(Relation index, EmbedModelStamp *stamp)
{
	List	   *exprs = RelationGetIndexExpressions(index);
	StampWalk	walk;

	memset(stamp, 0, sizeof(EmbedModelStamp));
	if (exprs == NIL)
		return;
	walk.stamp = stamp;
	(void) stamp_walker((Node *) exprs, &walk);
}

void
embed_stamp_check(Relation index, const EmbedModelStamp *stamp)
{
	char		name[sizeof(stamp->name)];
	char	   *now;

	if (!(stamp->flags & EMBED_STAMP_RECORDED))
		return;
	/* the page copy may not be NUL-terminated if it is damaged */
	strlcpy(name, stamp->name, sizeof(name));
	now = embed_model_fingerprint(name);
	if (now == NULL || strncmp(now, stamp->sha256, 64) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" was built with another embedding model than \"%s\"",
						RelationGetRelationName(index), name),
				 now ? errdetail("The index was built with the model of fingerprint %.64s; \"%s\" now has fingerprint %s.",
								 stamp->sha256, name, now)
				 : errdetail("The index was built with the model of fingerprint %.64s; \"%s\" is not installed.",
							 stamp->sha256, name),
				 errhint("REINDEX INDEX %s;",
						 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(index)),
													RelationGetRelationName(index)))));
}
