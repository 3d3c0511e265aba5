"""benchlib: the reusable part of the retrieval benchmark harness.

Modules:
  paths    project root, shared data directory, skip handling
  cluster  Cluster: a throwaway PostgreSQL cluster (test/lib/cluster.sh)
  data     .fvecs/.ivecs/MNIST-idx readers, BEIR jsonl loaders, COPY helpers
  timing   per-query wall time and backend CPU time (/proc/<pid>/schedstat)
  report   machine description, summary statistics, text and Markdown tables
  vector   the `vector` benchmarks (exact seq-scan top-10, SIMD kernels)
  hnsw     the `hnsw` benchmark (HNSW index: build, recall/latency, filters, buffers)

A benchmark is a module with register(subparsers) that adds its
subcommand(s) to bench.py; see vector.register.
"""
