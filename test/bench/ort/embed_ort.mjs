// test/bench/ort/embed_ort.mjs DIR INPUTS.json RUNS [MIX MODE [MODEL.onnx]]: ONNX Runtime
// (npm onnxruntime-node, one thread) on exactly the token ids the embed
// benchmark gave retrieval.embed, single calls or batches of 32 (padded to
// the longest text of the batch, attention mask), CPU time of this process
// around the timed runs only.  With MIX and MODE only that cell is measured
// (the benchmark alternates ORT and retrieval runs, so that both see the
// same machine load).  MODEL.onnx (in DIR) defaults to use_lite.onnx.  Prints
// one JSON object; also checks that ORT's outputs match ours.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, inputsPath, runsArg] = process.argv.slice(2);
const require = createRequire(join(dir, 'package.json'));
const ort = require('onnxruntime-node');
const inputs = JSON.parse(readFileSync(inputsPath, 'utf8'));
const runs = Number(runsArg || 3);
const [onlyMix, onlyMode, onnxFile] = process.argv.slice(5);
const sess = await ort.InferenceSession.create(join(dir, onnxFile || 'use_lite.onnx'),
	{ intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });

async function run(batch) {
	const T = Math.max(...batch.map((s) => s.length));
	const ids = new BigInt64Array(batch.length * T);
	const mask = new BigInt64Array(batch.length * T);
	batch.forEach((s, b) => s.forEach((id, t) => { ids[b * T + t] = BigInt(id); mask[b * T + t] = 1n; }));
	const r = await sess.run({
		input_ids: new ort.Tensor('int64', ids, [batch.length, T]),
		attention_mask: new ort.Tensor('int64', mask, [batch.length, T]),
	});
	return Object.values(r)[0].data;
}

const out = { version: require('onnxruntime-node/package.json').version, mixes: {} };
for (const [mix, v] of Object.entries(inputs)) {
	if (onlyMix && mix !== onlyMix) continue;
	const y = await run(v.ids.slice(0, v.check.length));
	let worst = 1;
	const dims = y.length / v.check.length;
	v.check.forEach((ours, i) => {
		let dot = 0, a = 0, b = 0;
		for (let j = 0; j < ours.length; j++) {
			dot += y[i * dims + j] * ours[j]; a += y[i * dims + j] ** 2; b += ours[j] ** 2;
		}
		worst = Math.min(worst, dot / Math.sqrt(a * b));
	});
	const ntok = v.ids.reduce((a, s) => a + s.length, 0);
	const res = { cosine_vs_retrieval_worst: worst };
	for (const mode of ['single', 'batch']) {
		if (onlyMode && mode !== onlyMode) continue;
		const size = mode === 'single' ? 1 : 32;
		const groups = [];
		for (let i = 0; i < v.ids.length; i += size) groups.push(v.ids.slice(i, i + size));
		for (const g of groups.slice(0, 2)) await run(g);	// warm-up
		const per = [];
		for (let r = 0; r < runs; r++) {
			const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
			for (const g of groups) await run(g);
			const c = process.cpuUsage(c0);
			per.push({ cpu_s: (c.user + c.system) / 1e6, wall_s: Number(process.hrtime.bigint() - t0) / 1e9 });
		}
		const med = (k) => per.map((p) => p[k]).sort((a, b) => a - b)[Math.floor(per.length / 2)];
		res[mode] = {
			tokens_per_cpu_s: ntok / med('cpu_s'), texts_per_cpu_s: v.ids.length / med('cpu_s'),
			tokens_per_wall_s: ntok / med('wall_s'), per_run: per,
			padded_tokens: groups.reduce((a, g) => a + g.length * Math.max(...g.map((s) => s.length)), 0),
		};
	}
	out.mixes[mix] = res;
}
console.log(JSON.stringify(out));
