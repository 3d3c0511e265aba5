// fuzz.test.mjs: wire-level fuzzing of vector input through node-postgres.
//   - text: strings mutated from valid vectors (character deletions,
//     insertions and replacements from a vector-ish alphabet, spliced
//     special tokens, huge exponents, hex floats, whitespace variants) plus
//     fixed edge cases and element lists longer than 16000, sent as vector
//     or vector(3) parameters or as vector(3) literals;
//   - binary: pgvector payloads sent as binary parameters with random dims
//     (including 0, 16000, 16001, 65535), unused != 0, truncation, trailing
//     bytes, NaN/Inf/subnormal/-0 bit patterns, as vector or vector(3).
// Every case must either be accepted (then its stored bits, its text output
// and a text round trip are checked) or fail with an allowed SQLSTATE; in both
// cases the outcome must match the reference model in model.mjs.  The
// connection must survive every error; a backend crash fails the test.
// Deterministic: FUZZ_SEED (default below) and FUZZ_CASES (per kind) can be
// set in the environment to explore further.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, dropTestDatabase, encodeVector, makeRng, randomFloat32 } from './common.mjs';
import { MAX_DIM, modelTextInput, modelBinaryInput } from './model.mjs';

const DB = 'retrieval_client_fuzz';
const SEED = Number(process.env.FUZZ_SEED || 20240611);
const CASES = Number(process.env.FUZZ_CASES || 3000);

// Every SQLSTATE a vector input may legitimately fail with (see model.mjs
// for which check raises each).
const ALLOWED = new Set(['22P02', '22000', '54000', '22003', '22P03', '08P01']);

let client;
let connectionError = null; // set if node-postgres reports the connection lost

before(async () => {
  client = await createTestDatabase(DB);
  client.on('error', (err) => {
    connectionError = err;
  });
});

after(async () => {
  await client?.end().catch(() => {});
  await dropTestDatabase(DB);
});

// ---------------------------------------------------------------- text cases

const ALPHABET = '[]., -+eE0123456789naifNI \t\n';
const TOKENS = ['nan', 'NaN', '-nan', 'inf', '-Infinity', 'INF', 'infinit', 'nan(1a_)', '1e39',
  '-1e39', '3.4028235e38', '3.4028236e38', '1e-46', '1e-45', '1e999999999999', '1e-999999999999',
  '0e999999999', '-0', '0x1p3', '0x1.8p1', '-0X.8P-1', '0x1p128', '0x1p-150', '0x', '0xp1', '.5',
  '5.', '+5', '00012', '1e', '1e+', '.', '-', ',', ']', '[', ' ', '\t'];
const SPACES = ['', '', '', ' ', '  ', '\t', '\n', ' \r\n', '\f', '\v'];

// One element of a valid vector, in one of many spellings strtof accepts.
function formatElement(rng) {
  const v = randomFloat32(rng);
  switch (rng.int(8)) {
    case 0: return String(Math.trunc(v));
    case 1: return v.toExponential(rng.range(0, 12));
    case 2: return v.toExponential(rng.range(0, 6)).toUpperCase();
    case 3: return Math.abs(v) < 1e15 ? v.toFixed(rng.range(0, 10)) : String(v);
    case 4: return (v >= 0 ? '+' : '') + String(v);
    case 5: { // many significant digits: exercises correct rounding to float4
      const digits = Array.from({ length: rng.range(10, 40) }, () => rng.int(10)).join('');
      return `${rng.pick(['', '-'])}${digits[0]}.${digits.slice(1)}e${rng.range(-50, 45)}`;
    }
    case 6: return rng.pick(['.5', '5.', '-.25e1', '0.', '-0', '0001.5', '1.e3', '0x1p-3', '0X1.8P+1']);
    default: return String(v);
  }
}

function validVectorText(rng, dim, element = formatElement) {
  const parts = Array.from({ length: dim }, () => rng.pick(SPACES) + element(rng) + rng.pick(SPACES));
  return `${rng.pick(SPACES)}[${parts.join(',')}]${rng.pick(SPACES)}`;
}

function mutateText(rng, s) {
  const ops = rng.range(1, 4);
  for (let k = 0; k < ops; k++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(6)) {
      case 0: s = s.slice(0, at) + s.slice(at + 1); break; // delete
      case 1: s = s.slice(0, at) + rng.pick(ALPHABET) + s.slice(at); break; // insert
      case 2: s = s.slice(0, at) + rng.pick(ALPHABET) + s.slice(at + 1); break; // replace
      case 3: s = s.slice(0, at) + rng.pick(TOKENS) + s.slice(at); break; // splice a token
      case 4: { // duplicate a chunk
        const len = rng.range(1, 8);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      }
      default: s = s.slice(0, at); // truncate
    }
  }
  return s;
}

// Hand-picked edge cases, each run once.
function fixedTextCases() {
  const long = (n, el = '1') => `[${Array(n).fill(el).join(',')}]`;
  return [
    '', ' ', '[]', '[ ]', '[\t\n]', '[', ']', '[1', '1]', '[1,]', '[,1]', '[1,,2]', '[[1]]', '[1]]',
    '[1] x', ' [1] ', '\t[\n1\t,\n2\t]\n', '\f[1]\v', '[1 2]', '[1;2]', '[1,2,3]', '(1,2)', '{1,2}',
    '[0x1p3]', '[0x1.8p1, -0X.8P-1]', '[0x1p127]', '[0x1p128]', '[-0x1.fffffep127]', '[0x1.ffffffp127]',
    '[0x1p-149]', '[0x1p-150]', '[0x1p-151]', '[0x]', '[0xp1]', '[0x1p]', '[0x.8]', '[0x.]', '[0xg]',
    '[nan]', '[NaN]', '[-nan]', '[nan(123)]', '[nan()]', '[nan(]', '[inf]', '[-Infinity]', '[INF]',
    '[infinit]', '[infinityx]', '[in]', '[n]', '[1,nan]', '[1e38]', '[3.4028235e38]',
    '[3.40282356e38]', '[3.4028236e38]', '[1e39]', '[-1e39]', '[1e-46]', '[1e-45]', '[-1e-46]',
    '[1e99999999999999999999]', '[1e-99999999999999999999]', '[0e99999999999]', '[.5]', '[5.]',
    '[+5]', '[-.5e-3]', '[.]', '[-]', '[+]', '[e5]', '[1e]', '[1e+]', '[--1]', '[+-1]', '[1.2.3]',
    '[00001]', '[1,2,3] ', '[ 1 , 2 , 3 ]', `[1${'0'.repeat(50)}]`, `[1${'0'.repeat(40)}]`,
    `[0.${'0'.repeat(1000)}1]`, `[1${'0'.repeat(100000)}]`,
    long(MAX_DIM), long(MAX_DIM + 1), long(20000), long(MAX_DIM, '-0.5e-3'),
    `${long(MAX_DIM).slice(0, -1)},nan]`, `${long(MAX_DIM).slice(0, -1)},x]`,
    `${long(MAX_DIM).slice(0, -1)},]`, `${long(MAX_DIM).slice(0, -1)},1e39]`,
  ];
}

function* textCases(rng) {
  for (const s of fixedTextCases()) yield s;
  for (let n = 0; n < CASES; n++) {
    let dim = rng.range(1, 8);
    if (rng.chance(0.05)) dim = rng.range(9, 300);
    if (rng.chance(0.002)) dim = rng.pick([MAX_DIM, MAX_DIM + 1, MAX_DIM + rng.range(2, 500)]);
    // Long vectors get plain elements: among thousands of the varied ones
    // one nearly always overflows, and the dimension limit would go untested.
    const s = dim > 300 ? validVectorText(rng, dim, (r) => String(randomFloat32(r))) : validVectorText(rng, dim);
    yield rng.chance(0.2) ? s : mutateText(rng, s);
  }
}

// -------------------------------------------------------------- binary cases

const NAN_INF_BITS = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xffffffff, 0x7fffffff,
  0x7f800000, 0xff800000];
const ODD_FINITE_BITS = [0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x7f7fffff,
  0xff7fffff];

function binaryCase(rng) {
  let dim = rng.range(1, 16);
  if (rng.chance(0.1)) dim = rng.range(17, 1000);
  if (rng.chance(0.005)) dim = MAX_DIM;
  const buf = Buffer.alloc(4 + 4 * dim);
  buf.writeUInt16BE(dim, 0);
  for (let k = 0; k < dim; k++) {
    if (rng.chance(0.02)) buf.writeUInt32BE(rng.u32(), 4 + 4 * k); // any bits, NaNs included
    else buf.writeFloatBE(randomFloat32(rng), 4 + 4 * k);
  }
  if (rng.chance(0.25)) return buf; // valid (unless random bits made a NaN/Inf)

  let out = buf;
  const ops = rng.range(1, 3);
  for (let k = 0; k < ops; k++) {
    switch (rng.int(7)) {
      case 0: // odd dim field, payload unchanged
        if (out.length >= 2) {
          out.writeUInt16BE(rng.pick([0, 1, dim - 1, dim + 1, MAX_DIM, MAX_DIM + 1, 0x7fff, 0x8000,
            0xffff, rng.int(0x10000)]) & 0xffff, 0);
        }
        break;
      case 1: // unused != 0
        if (out.length >= 4) out.writeUInt16BE(rng.pick([1, 0x8000, 0xffff, rng.range(1, 0xffff)]), 2);
        break;
      case 2: // truncate
        out = out.subarray(0, rng.int(out.length));
        break;
      case 3: // trailing bytes
        out = Buffer.concat([out, Buffer.from(Array.from({ length: rng.range(1, 8) }, () => rng.int(256)))]);
        break;
      case 4: // NaN / Inf element
        if (out.length >= 8) out.writeUInt32BE(rng.pick(NAN_INF_BITS), 4 + 4 * rng.int((out.length - 4) >> 2));
        break;
      case 5: // -0, subnormals, FLT_MAX: all valid
        if (out.length >= 8) out.writeUInt32BE(rng.pick(ODD_FINITE_BITS), 4 + 4 * rng.int((out.length - 4) >> 2));
        break;
      default: // a short random blob
        out = Buffer.from(Array.from({ length: rng.int(12) }, () => rng.int(256)));
    }
  }
  return out;
}

function fixedBinaryCases() {
  const header = (dim, unused = 0) => encodeVector([], { dim, unused });
  const withData = (dim, n, unused = 0) => Buffer.concat([header(dim, unused), Buffer.alloc(4 * n)]);
  return [
    Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 1]), Buffer.from([0, 1, 0]), header(0),
    header(1), withData(1, 1), withData(0, 1), withData(1, 1, 1), withData(1, 2), withData(2, 1),
    withData(MAX_DIM, MAX_DIM), withData(MAX_DIM, MAX_DIM - 1), withData(MAX_DIM, MAX_DIM + 1),
    withData(MAX_DIM + 1, MAX_DIM + 1), withData(0x7fff, 0x7fff), withData(0x8000, 0),
    withData(0xffff, 0xffff), header(0xffff, 0xffff), encodeVector([NaN]), encodeVector([Infinity]),
    encodeVector([-Infinity]), encodeVector([-0]), encodeVector([1.401298464324817e-45]),
  ];
}

function* binaryCases(rng) {
  for (const b of fixedBinaryCases()) yield b;
  for (let n = 0; n < CASES; n++) yield binaryCase(rng);
}

// ------------------------------------------------------------------- runner

function sameBits(a, b) {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

function show(input) {
  const s = Buffer.isBuffer(input) ? `binary ${input.subarray(0, 40).toString('hex')}` : JSON.stringify(input);
  return s.length > 200 ? `${s.slice(0, 200)}... (length ${input.length})` : s;
}

// client.query(), except that losing the connection (a backend crash ends
// it without an ErrorResponse, so the error has no SQLSTATE) aborts the test.
async function query(input, sql, params) {
  try {
    return await client.query(sql, params);
  } catch (err) {
    if (connectionError || !err.code) {
      throw new Error(`connection lost (backend crash?) on ${show(input)}: ${err.message}`);
    }
    throw err;
  }
}

// Runs one case: `sql` makes a vector of `input` (passed as $1 when `params`
// is given) and returns its text and its vector_send() bytes; the model's
// prediction is checked against what the server did.
async function runCase(stats, failures, input, sql, params, expected) {
  let result;
  try {
    result = await query(input, sql, params);
  } catch (err) {
    if (!err.code) throw err;
    stats.set(err.code, (stats.get(err.code) ?? 0) + 1);
    if (!ALLOWED.has(err.code)) {
      failures.push(`${show(input)}: unexpected SQLSTATE ${err.code} (${err.message})`);
    } else if (expected.code !== err.code) {
      failures.push(`${show(input)}: got ${err.code} (${err.message}), model expects ` +
        `${expected.code ?? 'acceptance'}`);
    }
    // No separate check here: the next case's query fails without a
    // SQLSTATE if this error cost the connection; assertAlive() runs every
    // 100 cases and at the end.
    return;
  }
  stats.set('accepted', (stats.get('accepted') ?? 0) + 1);
  const { t, b } = result.rows[0];
  if (expected.code) {
    failures.push(`${show(input)}: accepted as ${show(t)}, model expects ${expected.code}`);
    return;
  }
  // Stored bits: vector_send() must be the pgvector encoding of the values.
  if (!b.equals(encodeVector(expected.values))) {
    failures.push(`${show(input)}: stored ${b.toString('hex').slice(0, 80)}, model expects ` +
      `${show(expected.values)}`);
    return;
  }
  // Text output: each element reads back as the same float4.
  const printed = t.slice(1, -1).split(',').map((x) => Math.fround(Number(x)));
  if (t[0] !== '[' || t.at(-1) !== ']' || !sameBits(printed, expected.values)) {
    failures.push(`${show(input)}: printed as ${show(t)}`);
    return;
  }
  // Round trip: the printed text reads back to identical text.
  const again = await query(input, 'SELECT $1::vector::text AS t', [t]);
  if (again.rows[0].t !== t) failures.push(`${show(input)}: ${show(t)} re-read as ${show(again.rows[0].t)}`);
}

const selectVector = (expr) => `SELECT v::text AS t, vector_send(v) AS b FROM (SELECT ${expr} AS v) s`;
const QUERY = selectVector('$1::vector');
const QUERY_TYPMOD = selectVector('$1::vector(3)');

function summary(label, stats, total) {
  const parts = [...stats.entries()].sort().map(([k, n]) => `${k}=${n}`);
  return `${label}: ${total} cases: ${parts.join(' ')}`;
}

async function assertAlive() {
  assert.equal(connectionError, null, `connection error: ${connectionError?.message}`);
  const { rows } = await client.query('SELECT 1 AS one');
  assert.equal(rows[0].one, 1);
}

test('text input fuzz', async (t) => {
  const rng = makeRng(SEED);
  const stats = new Map();
  const failures = [];
  let total = 0;
  for (const s of textCases(rng)) {
    total++;
    // Most cases go through a plain vector parameter; some through a
    // vector(3) parameter (the typmod is applied after vector_in), some as a
    // vector(3) literal (vector_in itself gets typmod 3).
    const mode = rng.int(8);
    const expected = modelTextInput(s, mode < 6 ? -1 : 3);
    if (mode < 6) await runCase(stats, failures, s, QUERY, [s], expected);
    else if (mode === 6) await runCase(stats, failures, s, QUERY_TYPMOD, [s], expected);
    else await runCase(stats, failures, s, selectVector(`'${s.replaceAll("'", "''")}'::vector(3)`), undefined, expected);
    if (total % 100 === 0) await assertAlive();
  }
  await assertAlive();
  t.diagnostic(`seed ${SEED}`);
  t.diagnostic(summary('text', stats, total));
  assert.equal(failures.length, 0,
    `${failures.length} text cases went wrong; the first ones:\n${failures.slice(0, 20).join('\n')}`);
  assert.ok(total >= CASES);
  // The fuzz must actually reach both outcomes and the main error classes.
  for (const k of ['accepted', '22P02', '22000', '22003', '54000']) assert.ok(stats.get(k) > 0, `no ${k} outcome`);
});

test('binary input fuzz', async (t) => {
  const rng = makeRng(SEED ^ 0x5eed);
  const stats = new Map();
  const failures = [];
  let total = 0;
  for (const b of binaryCases(rng)) {
    total++;
    const typmod = rng.chance(0.1) ? 3 : -1;
    await runCase(stats, failures, b, typmod === 3 ? QUERY_TYPMOD : QUERY, [b], modelBinaryInput(b, typmod));
    if (total % 100 === 0) await assertAlive();
  }
  await assertAlive();
  t.diagnostic(`seed ${SEED ^ 0x5eed}`);
  t.diagnostic(summary('binary', stats, total));
  assert.equal(failures.length, 0,
    `${failures.length} binary cases went wrong; the first ones:\n${failures.slice(0, 20).join('\n')}`);
  assert.ok(total >= CASES);
  for (const k of ['accepted', '22000', '54000', '22P03', '08P01']) assert.ok(stats.get(k) > 0, `no ${k} outcome`);
});

test('the server is alive after the fuzz', async () => {
  await assertAlive();
  const { rows } = await client.query("SELECT '[1,2,3]'::vector::text AS t");
  assert.equal(rows[0].t, '[1,2,3]');
});
