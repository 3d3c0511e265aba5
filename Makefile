# Makefile for the retrieval extension (PGXS).
#
#   make                build retrieval.so
#   make install        install into the PostgreSQL found by PG_CONFIG
#   make unittest       build and run the standalone C unit tests
#   make check-all      everything (same as test/all.sh, which also installs
#                       Debian packages and runs the server as "postgres")

EXTENSION = retrieval
EXTVERSION = 0.1.0
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
	src/vector/vector_aggregate.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# pg_regress tests: sql/<name>.sql compared with expected/<name>.out.
REGRESS = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_CFLAGS += -std=c11 -Wall -Wextra -Werror
# PostgreSQL's headers are not -Wextra clean (sign-compare in ARR_DATA_PTR):
# include them as system headers so the warnings apply to our code only.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
SHLIB_LINK += -lm

EXTRA_CLEAN = test/unit/test_kernels test/bench/kernel_bench

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

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
