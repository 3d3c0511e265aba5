/*-------------------------------------------------------------------------
 *
 * am_validate.c
 *	  amvalidate: checks an operator class of the retrieval access method
 *	  when it is created (and on demand through amvalidate()).
 *
 * Every operator class needs support function 1 with the signature
 * (internal) RETURNS integer (it names the index kind) and only ordering
 * operators, which return double precision.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "retrieval_am.h"

bool
retrieval_amvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	CatCList   *proclist,
			   *oprlist;
	bool		has_support = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (procform->amprocnum != RETRIEVAL_SUPPORT_PROC ||
			!check_amproc_signature(procform->amproc, INT4OID, true, 1, 1, INTERNALOID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("retrieval operator class \"%s\" has an invalid support function %d",
							NameStr(classform->opcname), procform->amprocnum)));
			result = false;
		}
		else
			has_support = true;
	}
	ReleaseSysCacheList(proclist);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (oprform->amoppurpose != AMOP_ORDER ||
			!check_amop_signature(oprform->amopopr, FLOAT8OID,
								  oprform->amoplefttype, oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("retrieval operator class \"%s\" has an invalid operator %s",
							NameStr(classform->opcname),
							format_operator(oprform->amopopr))));
			result = false;
		}
	}
	ReleaseSysCacheList(oprlist);

	if (!has_support)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("retrieval operator class \"%s\" lacks support function %d",
						NameStr(classform->opcname), RETRIEVAL_SUPPORT_PROC)));
		result = false;
	}
	ReleaseSysCache(classtup);
	return result;
}
