// binary.test.mjs: the pgvector binary wire format in both directions.
//   - send: node-postgres sends a Buffer parameter in binary format, so a
//     hand-built pgvector payload goes through vector_recv;
//   - receive: results requested in binary format (vector_send) are decoded
//     by hand: dim, unused == 0, and the float32 values bit for bit.
// Binary results are read with wire.mjs because node-postgres mangles binary
// fields that are not valid UTF-8 (see the header of wire.mjs); node-postgres'
// own `binary: true` path is still exercised with a vector whose bytes are all
// ASCII.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createTestDatabase, dropTestDatabase, encodeVector, decodeVector, makeRng, randomFloat32,
} from './common.mjs';
import { WireClient } from './wire.mjs';

const DB = 'retrieval_client_binary';
let client; // node-postgres
let wire; // raw protocol client

before(async () => {
  client = await createTestDatabase(DB);
  wire = await WireClient.connect(DB);
});

after(async () => {
  await wire?.close();
  await client?.end();
  await dropTestDatabase(DB);
});

// Sends `payload` as a binary parameter; resolves to the vector's text form.
async function binaryToText(payload) {
  const { rows } = await client.query('SELECT $1::vector::text AS t', [payload]);
  return rows[0].t;
}

// Reads `sql` (with text parameters) in binary result format; returns the
// first column of the first row as raw bytes.
async function selectBinary(sql, ...textParams) {
  const { rows, error } = await wire.query(sql, textParams.map((v) => ({ format: 0, value: v })), 1);
  if (error) throw error;
  return rows[0][0];
}

test('a hand-built binary parameter is read as the expected vector', async () => {
  const payload = encodeVector([1, -2.5, 0.125, 1e-7, 3.4e38, -0, 1.401298464324817e-45]);
  assert.equal(payload.length, 4 + 7 * 4);
  assert.equal(await binaryToText(payload), '[1,-2.5,0.125,1e-07,3.4e+38,-0,1e-45]');
  assert.equal(await binaryToText(encodeVector([42])), '[42]');
});

test('binary parameters into a typed column: typmod enforced with 22000', async () => {
  await client.query('CREATE TABLE typed (embedding vector(3))');
  await client.query('INSERT INTO typed VALUES ($1)', [encodeVector([1, 2, 3])]);
  await assert.rejects(client.query('INSERT INTO typed VALUES ($1)', [encodeVector([1, 2])]),
    (err) => err.code === '22000' && /expected 3 dimensions, not 2/.test(err.message));
  const { rows } = await client.query('SELECT embedding::text AS t FROM typed');
  assert.deepEqual(rows, [{ t: '[1,2,3]' }]);
});

test('binary results decode to dim, unused = 0 and exact float32 values', async () => {
  const bytes = await selectBinary('SELECT $1::vector', '[1.5,-0.25,1e-7,3.4e38,-0,0]');
  const { dim, unused, values } = decodeVector(bytes);
  assert.equal(dim, 6);
  assert.equal(unused, 0);
  const expected = [1.5, -0.25, Math.fround(1e-7), Math.fround(3.4e38), -0, 0];
  values.forEach((v, i) => assert.ok(Object.is(v, expected[i]), `element ${i}: ${v} vs ${expected[i]}`));
});

test('random vectors: binary send matches the text value and re-sends identically', async () => {
  const rng = makeRng(2024);
  for (let n = 0; n < 200; n++) {
    const dim = rng.chance(0.1) ? rng.range(1, 2000) : rng.range(1, 16);
    const input = Array.from({ length: dim }, () => randomFloat32(rng));
    const payload = encodeVector(input);
    // Text form of the binary input, then that text read back in binary.
    const text = await binaryToText(payload);
    const bytes = await selectBinary('SELECT $1::vector', text);
    assert.deepEqual(bytes, payload, `vector ${n} (dim ${dim}) changed in the round trip`);
  }
});

test('16000 dimensions in binary, both directions', async () => {
  const rng = makeRng(16000);
  const input = Array.from({ length: 16000 }, () => randomFloat32(rng));
  const payload = encodeVector(input);
  const text = await binaryToText(payload);
  const bytes = await selectBinary('SELECT $1::vector', text);
  assert.equal(bytes.length, 4 + 16000 * 4);
  assert.deepEqual(bytes, payload);
  const { dim, unused, values } = decodeVector(bytes);
  assert.equal(dim, 16000);
  assert.equal(unused, 0);
  values.forEach((v, i) => assert.ok(Object.is(v, input[i]), `element ${i}`));
});

test('vector_send() as SQL returns the same bytes as the binary result', async () => {
  const { rows } = await client.query("SELECT vector_send('[1,2,-0.5]'::vector) AS b");
  assert.deepEqual(rows[0].b, encodeVector([1, 2, -0.5]));
  assert.deepEqual(await selectBinary('SELECT $1::vector', '[1,2,-0.5]'), rows[0].b);
});

test("node-postgres' binary: true result mode with an ASCII-only payload", async () => {
  // 0.5 = 0x3f000000, 2 = 0x40000000, 10 = 0x41200000, 42 = 0x42280000: every
  // byte is below 0x80, so node-postgres' UTF-8 decoding leaves it intact.
  const { rows: [{ oid }] } = await client.query("SELECT 'vector'::regtype::oid AS oid");
  const types = {
    getTypeParser: (typeOid, format) => {
      if (typeOid === oid && format === 'binary') return decodeVector;
      return (v) => v;
    },
  };
  const result = await client.query({
    text: 'SELECT $1::vector AS v', values: ['[0.5,2,10,42]'], binary: true, types,
  });
  assert.equal(result.fields[0].format, 'binary');
  assert.deepEqual(result.rows[0].v, { dim: 4, unused: 0, values: [0.5, 2, 10, 42] });
});

test('malformed binary parameters fail with the documented SQLSTATEs', async () => {
  const cases = [
    // [payload, SQLSTATE, what raises it]
    [encodeVector([1, 2], { unused: 1 }), '22P03', 'vector_recv: unused must be 0'],
    [encodeVector([1, 2], { dim: 3 }), '22P03', 'vector_recv: fewer bytes than dim floats'],
    [encodeVector([1, 2, 3], { dim: 2 }), '22P03', 'PostgreSQL: trailing bytes after vector_recv'],
    [encodeVector([], { dim: 0 }), '22000', 'vector_recv: empty vector'],
    [encodeVector([], { dim: 16001 }), '54000', 'vector_recv: more than 16000 dims'],
    [encodeVector([], { dim: 65535 }), '54000', 'vector_recv: dim read as unsigned 16 bits'],
    [encodeVector([NaN]), '22000', 'vector_recv: NaN element'],
    [encodeVector([-Infinity]), '22000', 'vector_recv: infinite element'],
    [Buffer.from([0, 1, 0]), '08P01', 'pq_getmsgint: message shorter than the header'],
    [Buffer.alloc(0), '08P01', 'pq_getmsgint: empty message'],
  ];
  for (const [payload, code, why] of cases) {
    await assert.rejects(binaryToText(payload), (err) => {
      assert.equal(err.code, code, `${why}: got ${err.code} ${err.message}`);
      return true;
    });
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
  }
});
