/*-------------------------------------------------------------------------
 *
 * model_registry.c
 *	  Named embedding models: registration, fingerprints, per-backend cache.
 *
 *	  retrieval.register_model(name, path)    superuser / pg_read_server_files
 *	  retrieval.unregister_model(name)        same
 *	  retrieval.model_fingerprint(name)       sha256 of a model's files
 *	  retrieval.default_model_info()          file and sha256 of the default
 *
 * The registry is the extension-owned table retrieval.model_registry
 * (marked with pg_extension_config_dump, so pg_dump keeps registrations);
 * everybody may read it, only this file writes it, as the table's owner,
 * after its own privilege check (nothing is SECURITY DEFINER).
 *
 * Fingerprint: the sha256 of a manifest that lists the sha256 of every
 * file the model is read from, exactly as `sha256sum` prints it, in a fixed
 * order, names relative to the model's directory:
 *
 *   cd /srv/models/minilm && sha256sum config.json model.safetensors tokenizer.json \
 *       [modules.json 1_Pooling/config.json sentence_bert_config.json] | sha256sum
 *
 * (optional files only when present).  So a changed tokenizer or pooling
 * configuration is a changed model, not only changed weights.
 *
 * Verification: a backend hashes a registered model's files when it first
 * loads it, and again only when stat() shows that one of them changed
 * (size, mtime or inode, checked on every call: a few microseconds); the
 * weights stay mapped, so a file replaced by rename does not change under
 * a loaded model, but the change is noticed and refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "embed_json.h"
#include "model_registry.h"
#include "packed_cache.h"

#define MODEL_MISSING_HINT \
	"The default model is fetched and installed at build time: run \"make model && make install\" " \
	"in the retrieval source tree (needs npm and access to the npm registry)."

#define MAX_MODEL_FILES 6

typedef struct ModelFiles
{
	int			n;
	char	   *abs[MAX_MODEL_FILES];
	const char *rel[MAX_MODEL_FILES];
	struct stat st[MAX_MODEL_FILES];
} ModelFiles;

typedef struct CachedModel
{
	struct CachedModel *next;
	char		name[NAMEDATALEN];
	char	   *kind;
	char	   *path;
	char		sha256[PG_SHA256_DIGEST_STRING_LENGTH];	/* "" until computed */
	ModelFiles	files;
	MemoryContext cxt;
	EmbedModel	model;
} CachedModel;

static CachedModel *cache = NULL;
static CachedModel *default_model = NULL;

/* ---------------------------------------------------------------------
 * Files and fingerprints
 * ---------------------------------------------------------------------
 */

static bool
stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The files a model of this kind is read from; stat()s them. */
static void
model_files(const char *kind, const char *path, ModelFiles *f)
{
	static const char *const bert_files[] = {"config.json", "model.safetensors", "tokenizer.json",
	"modules.json", "1_Pooling/config.json", "sentence_bert_config.json"};
	static const bool bert_required[] = {true, true, true, false, false, false};
	static const char *const static_files[] = {"config.json", "model.safetensors", "tokenizer.json"};
	static const bool static_required[] = {false, true, true};
	const char *const *names;
	const bool *required;
	int			n;

	f->n = 0;
	if (strcmp(kind, EMBED_KIND_USE_LITE) == 0)
	{
		const char *slash = strrchr(path, '/');

		f->abs[0] = pstrdup(path);
		f->rel[0] = slash ? slash + 1 : path;
		if (stat(path, &f->st[0]) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat embedding model file \"%s\": %m", path)));
		f->n = 1;
		return;
	}
	if (strcmp(kind, EMBED_KIND_BERT) == 0)
		names = bert_files, required = bert_required, n = lengthof(bert_files);
	else
		names = static_files, required = static_required, n = lengthof(static_files);
	for (int i = 0; i < n; i++)
	{
		char	   *abs = psprintf("%s/%s", path, names[i]);

		if (stat(abs, &f->st[f->n]) != 0)
		{
			if (errno == ENOENT && !required[i])
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat embedding model file \"%s\": %m", abs)));
		}
		f->abs[f->n] = abs;
		f->rel[f->n] = names[i];
		f->n++;
	}
}

static void
hex(const uint8 *d, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
}

static void
sha256_final_hex(pg_cryptohash_ctx *ctx, char *out)
{
	uint8		d[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_final(ctx, d, sizeof(d)) < 0)
		elog(ERROR, "could not compute a sha256 digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex(d, out);
}

static pg_cryptohash_ctx *
sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialise a sha256 digest");
	return ctx;
}

static void
sha256_file(const char *path, char *out)
{
	pg_cryptohash_ctx *ctx = sha256_begin();
	int			fd = open(path, O_RDONLY | PG_BINARY);
	char	   *buf;
	ssize_t		got;

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open embedding model file \"%s\": %m", path)));
	buf = palloc(1 << 20);
	PG_TRY();
	{
		while ((got = read(fd, buf, 1 << 20)) > 0)
		{
			CHECK_FOR_INTERRUPTS();
			if (pg_cryptohash_update(ctx, (uint8 *) buf, got) < 0)
				elog(ERROR, "could not compute a sha256 digest");
		}
		if (got < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read embedding model file \"%s\": %m", path)));
	}
	PG_FINALLY();
	{
		close(fd);
	}
	PG_END_TRY();
	pfree(buf);
	sha256_final_hex(ctx, out);
}

static void
fingerprint(const ModelFiles *f, char *out)
{
	StringInfoData manifest;
	pg_cryptohash_ctx *ctx;

	initStringInfo(&manifest);
	for (int i = 0; i < f->n; i++)
	{
		char		h[PG_SHA256_DIGEST_STRING_LENGTH];

		sha256_file(f->abs[i], h);
		appendStringInfo(&manifest, "%s  %s\n", h, f->rel[i]);
	}
	ctx = sha256_begin();
	if (pg_cryptohash_update(ctx, (uint8 *) manifest.data, manifest.len) < 0)
		elog(ERROR, "could not compute a sha256 digest");
	sha256_final_hex(ctx, out);
	pfree(manifest.data);
}

/* ---------------------------------------------------------------------
 * Loading and the cache
 * ---------------------------------------------------------------------
 */

/* The kind of the model at path (a file or a directory). */
static char *
detect_kind(const char *path)
{
	struct stat st;
	char	   *cpath;
	JsonbContainer *cfg;
	char	   *type;
	JsonbContainer *archs;

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat embedding model path \"%s\": %m", path)));
	if (S_ISREG(st.st_mode))
		return EMBED_KIND_USE_LITE;
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embedding model path \"%s\" is neither a file nor a directory", path)));
	cpath = psprintf("%s/config.json", path);
	cfg = embed_json_read_file(cpath, false);
	if (cfg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("embedding model directory \"%s\" has no config.json", path),
				 errhint("A model directory holds config.json, model.safetensors and tokenizer.json (Hugging Face layout).")));
	type = embed_json_string_opt(cfg, "model_type", "", cpath);
	if (strcmp(type, "bert") == 0)
		return EMBED_KIND_BERT;
	if (strcmp(type, "model2vec") == 0)
		return EMBED_KIND_STATIC;
	archs = embed_json_array(cfg, "architectures", cpath);
	if (archs)
		for (uint32 i = 0; i < JsonContainerSize(archs); i++)
		{
			JsonbValue *a = getIthJsonbValueFromContainer(archs, i);

			if (a->type == jbvString && a->val.string.len == 11 &&
				memcmp(a->val.string.val, "StaticModel", 11) == 0)
				return EMBED_KIND_STATIC;
		}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("embedding model \"%s\" is of an unsupported type \"%s\"", path, type),
			 errhint("Supported: BERT-family encoders (model_type \"bert\") and static models (model_type \"model2vec\").")));
	return NULL;				/* keep compiler quiet */
}

static void
free_cached(CachedModel *c)
{
	if (c->model.unload)
		c->model.unload(&c->model);
	MemoryContextDelete(c->cxt);
}

/*
 * Load a model into a new long-lived context.  With hash, its files are
 * fingerprinted first (and must match expect_sha when given), and the
 * fingerprint keys what the loader derives from them (packed-weight cache).
 */
static CachedModel *
load_model(const char *name, const char *kind, const char *path, bool hash, const char *expect_sha)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "retrieval embedding model",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CachedModel *c = palloc0(sizeof(CachedModel));

	c->cxt = cxt;
	strlcpy(c->name, name, sizeof(c->name));
	c->kind = pstrdup(kind);
	c->path = pstrdup(path);
	PG_TRY();
	{
		if (hash)
		{
			model_files(kind, path, &c->files);
			fingerprint(&c->files, c->sha256);
			if (expect_sha && strcmp(c->sha256, expect_sha) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("embedding model \"%s\" has changed since it was registered", name),
						 errdetail("The files under \"%s\" have fingerprint %s; %s was registered.",
								   path, c->sha256, expect_sha),
						 errhint("If the change is intended, re-register the model (retrieval.unregister_model, then retrieval.register_model) and rebuild what was computed with it.")));
		}
		if (strcmp(kind, EMBED_KIND_USE_LITE) == 0)
			embed_use_lite_open(&c->model, path, name[0] ? NULL : MODEL_MISSING_HINT);
		else
		{
			JsonbContainer *cfg = embed_json_read_file(psprintf("%s/config.json", path),
													   strcmp(kind, EMBED_KIND_BERT) == 0);

			if (strcmp(kind, EMBED_KIND_BERT) == 0)
				bert_model_open(&c->model, path, cfg, hash ? c->sha256 : NULL);
			else
				static_model_open(&c->model, path, cfg);
		}
		if (c->model.dims < 1 || c->model.dims > 16000)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("embedding model \"%s\" has %d dimensions, more than a vector can hold", path, c->model.dims)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		free_cached(c);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return c;
}

/* Where "make install" puts the default model (static buffer). */
static const char *
default_model_path(void)
{
	static char path[MAXPGPATH];

	if (path[0] == '\0')
	{
		char		share[MAXPGPATH];

		get_share_path(my_exec_path, share);
		snprintf(path, sizeof(path), "%s/extension/retrieval/models/use-lite/model.rmdl", share);
	}
	return path;
}

static CachedModel *
get_default(void)
{
	if (default_model == NULL)
	{
		default_model = load_model("", EMBED_KIND_USE_LITE, default_model_path(), false, NULL);
		strlcpy(default_model->name, EMBED_DEFAULT_MODEL, sizeof(default_model->name));
	}
	return default_model;
}

typedef struct RegistryRow
{
	char	   *kind;
	char	   *file;
	char	   *sha256;
	int			dims;
	int			max_tokens;
} RegistryRow;

/* The registry row of name (in the caller's context), or false. */
static bool
registry_lookup(const char *name, RegistryRow *row)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		found = false;
	MemoryContext caller = CurrentMemoryContext;

	SPI_connect();
	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT kind, file, sha256, dims, max_tokens FROM retrieval.model_registry WHERE name OPERATOR(pg_catalog.=) $1",
									1, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read retrieval.model_registry");
	if (SPI_processed == 1)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		bool		isnull;

		row->kind = SPI_getvalue(t, d, 1);
		row->file = SPI_getvalue(t, d, 2);
		row->sha256 = SPI_getvalue(t, d, 3);
		row->dims = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		row->max_tokens = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
		MemoryContextSwitchTo(spi);
		found = row->kind && row->file && row->sha256;
	}
	SPI_finish();
	return found;
}

static void
cache_remove(CachedModel *c)
{
	for (CachedModel **p = &cache; *p; p = &(*p)->next)
		if (*p == c)
		{
			*p = c->next;
			free_cached(c);
			return;
		}
}

static CachedModel *
cache_find(const char *name)
{
	for (CachedModel *c = cache; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* The loaded, verified model called name (ERROR if not registered). */
static CachedModel *
get_registered(const char *name)
{
	RegistryRow row;
	CachedModel *c;

	if (!registry_lookup(name, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("embedding model \"%s\" does not exist", name),
				 errhint("Register it with retrieval.register_model(name, path); SELECT * FROM retrieval.models lists the models.")));
	c = cache_find(name);
	/* registered again since we loaded it: another model now */
	if (c && (strcmp(c->path, row.file) != 0 || strcmp(c->sha256, row.sha256) != 0 ||
			  strcmp(c->kind, row.kind) != 0))
	{
		cache_remove(c);
		c = NULL;
	}
	if (c)
	{
		/* a file changed since we hashed it: hash again */
		ModelFiles now;
		bool		changed = false;

		model_files(c->kind, c->path, &now);
		changed = now.n != c->files.n;
		for (int i = 0; !changed && i < now.n; i++)
			changed = !stat_same(&now.st[i], &c->files.st[i]);
		if (changed)
		{
			char		sha[PG_SHA256_DIGEST_STRING_LENGTH];

			fingerprint(&now, sha);
			if (strcmp(sha, c->sha256) != 0)
			{
				cache_remove(c);
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("embedding model \"%s\" has changed since it was registered", name),
						 errdetail("The files under \"%s\" have fingerprint %s; %s was registered.",
								   row.file, sha, row.sha256),
						 errhint("If the change is intended, re-register the model (retrieval.unregister_model, then retrieval.register_model) and rebuild what was computed with it.")));
			}
			/* same content (e.g. touched or copied back): remember the new stat */
			for (int i = 0; i < now.n; i++)
				c->files.st[i] = now.st[i];
		}
		return c;
	}
	c = load_model(name, row.kind, row.file, true, row.sha256);
	c->next = cache;
	cache = c;
	return c;
}

const EmbedModel *
embed_model_get(const char *name)
{
	if (name == NULL || strcmp(name, EMBED_DEFAULT_MODEL) == 0)
		return &get_default()->model;
	return &get_registered(name)->model;
}

char *
embed_model_fingerprint(const char *name)
{
	if (name == NULL || strcmp(name, EMBED_DEFAULT_MODEL) == 0)
	{
		CachedModel *d;
		ModelFiles	now;
		struct stat st;

		/* not installed: no fingerprint, and no error (retrieval.models) */
		if (stat(default_model_path(), &st) != 0)
			return NULL;
		d = get_default();
		model_files(d->kind, d->path, &now);
		if (d->sha256[0] == '\0' || !stat_same(&now.st[0], &d->files.st[0]))
		{
			fingerprint(&now, d->sha256);
			d->files = now;
			d->files.abs[0] = d->path;
			d->files.rel[0] = "model.rmdl";
		}
		return pstrdup(d->sha256);
	}
	return pstrdup(get_registered(name)->sha256);
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

static void
check_privilege(const char *fn)
{
	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to call %s", fn),
				 errdetail("Only superusers and members of pg_read_server_files may register or unregister embedding models, which reads server files.")));
}

/*
 * Run a registry change as the registry table's owner: the caller passed
 * check_privilege, and needs no privilege on the table itself.  Only this
 * statement runs with the owner's rights (SECURITY_LOCAL_USERID_CHANGE,
 * restricted), never user code.
 */
static int
registry_write(const char *sql, int nargs, Oid *types, Datum *args)
{
	Oid			relid;
	HeapTuple	tup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			ret;
	uint64		processed;

	relid = get_relname_relid("model_registry", get_namespace_oid("retrieval", false));
	if (!OidIsValid(relid))
		elog(ERROR, "retrieval.model_registry does not exist");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	ret = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);
	processed = SPI_processed;
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	if (ret < 0)
		elog(ERROR, "could not update retrieval.model_registry: %s", SPI_result_code_string(ret));
	return (int) processed;
}

PG_FUNCTION_INFO_V1(retrieval_register_model);
Datum
retrieval_register_model(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	RegistryRow existing;
	char	   *kind;
	CachedModel *c;
	CachedModel *old;
	Oid			types[6] = {TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, TEXTOID};
	Datum		args[6];

	check_privilege("retrieval.register_model");
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embedding model name must have 1 to %d bytes", NAMEDATALEN - 1)));
	if (strcmp(name, EMBED_DEFAULT_MODEL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("embedding model \"%s\" is the built-in default model", name)));
	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embedding model path \"%s\" is not absolute", path)));
	canonicalize_path(path);
	if (registry_lookup(name, &existing))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("embedding model \"%s\" is already registered", name),
				 errdetail("It is \"%s\" with fingerprint %s.", existing.file, existing.sha256),
				 errhint("To replace it, call retrieval.unregister_model('%s') first, and rebuild what was computed with it.", name)));

	kind = detect_kind(path);
	/* fingerprint, then load (which validates everything) */
	c = load_model(name, kind, path, true, NULL);
	PG_TRY();
	{
		args[0] = CStringGetTextDatum(name);
		args[1] = CStringGetTextDatum(kind);
		args[2] = Int32GetDatum(c->model.dims);
		args[3] = Int32GetDatum(c->model.max_tokens);
		args[4] = CStringGetTextDatum(path);
		args[5] = CStringGetTextDatum(c->sha256);
		registry_write("INSERT INTO retrieval.model_registry (name, kind, dims, max_tokens, file, sha256) "
					   "VALUES ($1, $2, $3, $4, $5, $6)", 6, types, args);
	}
	PG_CATCH();
	{
		free_cached(c);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* keep it loaded: the first embed() need not load it again */
	old = cache_find(name);
	if (old)
		cache_remove(old);
	c->next = cache;
	cache = c;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(retrieval_unregister_model);
Datum
retrieval_unregister_model(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	CachedModel *c;
	RegistryRow row;

	check_privilege("retrieval.unregister_model");
	if (!registry_lookup(name, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("embedding model \"%s\" does not exist", name)));
	args[0] = CStringGetTextDatum(name);
	if (registry_write("DELETE FROM retrieval.model_registry WHERE name OPERATOR(pg_catalog.=) $1", 1, types, args) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("embedding model \"%s\" does not exist", name)));

	/*
	 * Its packed-weight cache goes at commit, unless another name still
	 * refers to the same files.
	 */
	args[0] = CStringGetTextDatum(row.sha256);
	if (registry_write("SELECT 1 FROM retrieval.model_registry WHERE sha256 OPERATOR(pg_catalog.=) $1",
					   1, types, args) == 0)
		packed_cache_remove_at_commit(row.sha256);
	c = cache_find(name);
	if (c)
		cache_remove(c);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(retrieval_model_fingerprint);
Datum
retrieval_model_fingerprint(PG_FUNCTION_ARGS)
{
	char	   *sha = embed_model_fingerprint(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (sha == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(sha));
}

PG_FUNCTION_INFO_V1(retrieval_default_model_info);
Datum
retrieval_default_model_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *sha;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(default_model_path());
	sha = embed_model_fingerprint(NULL);
	if (sha)
		values[1] = CStringGetTextDatum(sha);
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
