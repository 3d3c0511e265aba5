// compat.test.mjs: pgvector's Node.js API (pgvector 0.3.0 with node-postgres)
// works unchanged against the retrieval extension: registerTypes() finds the
// vector type, toSql() parameters are accepted, and selected vectors come
// back as JS arrays equal to what was inserted.  Also checks the SQLSTATEs a
// pgvector client sees for typmod, dimension-limit and element errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pgvector from 'pgvector/pg';
import { createTestDatabase, dropTestDatabase, makeRng, randomFloat32 } from './common.mjs';

const DB = 'retrieval_client_compat';
let client;

before(async () => {
  client = await createTestDatabase(DB);
  await pgvector.registerTypes(client);
});

after(async () => {
  await client?.end();
  await dropTestDatabase(DB);
});

// Rejects unless the promise fails with the given SQLSTATE.
async function assertSqlState(promise, code, messagePattern) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `expected SQLSTATE ${code}, got ${err.code}: ${err.message}`);
    if (messagePattern) assert.match(err.message, messagePattern);
    return true;
  });
}

test('the pgvector 0.3.0 API is what this test expects', () => {
  assert.equal(typeof pgvector.registerTypes, 'function');
  assert.equal(typeof pgvector.toSql, 'function');
  assert.equal(pgvector.toSql([1, 2, 3]), '[1,2,3]');
});

test('insert with toSql() and select back an equal array', async () => {
  await client.query('CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3))');
  await client.query('INSERT INTO items (embedding) VALUES ($1)', [pgvector.toSql([1, 2, 3])]);
  const { rows } = await client.query('SELECT embedding FROM items');
  assert.deepEqual(rows[0].embedding, [1, 2, 3]);
});

test('values with short decimal forms come back exactly', async () => {
  // Each of these is the shortest decimal of its float32, so the shortest
  // float4 output that the server prints parses back to the same JS number.
  const input = [1.5, -0.25, 1e-7, 3.4e38, -3.4e38, 0, 123456, 0.1, -1e-30, 2.5e-42];
  const { rows } = await client.query('SELECT $1::vector AS v', [pgvector.toSql(input)]);
  assert.deepEqual(rows[0].v, input);
});

test('arbitrary float32 values survive the text round trip', async () => {
  const rng = makeRng(7);
  const input = Array.from({ length: 512 }, () => randomFloat32(rng));
  const { rows } = await client.query('SELECT $1::vector AS v', [pgvector.toSql(input)]);
  // toSql prints JS doubles; the server rounds each to float4 and prints the
  // shortest decimal that reads back as that float4.
  assert.equal(rows[0].v.length, input.length);
  rows[0].v.forEach((got, i) => {
    // JSON.stringify prints -0 as 0.
    const expected = input[i] === 0 ? 0 : input[i];
    assert.ok(Object.is(Math.fround(got), expected), `element ${i}: got ${got}, sent ${input[i]}`);
  });
});

test('16000-dimension vectors (the maximum) round-trip; 16001 fails with 54000', async () => {
  const rng = makeRng(16000);
  const input = Array.from({ length: 16000 }, () => Math.fround(rng.next() * 2 - 1));
  await client.query('CREATE TABLE big (embedding vector(16000))');
  await client.query('INSERT INTO big VALUES ($1)', [pgvector.toSql(input)]);
  const { rows } = await client.query('SELECT embedding, vector_dims(embedding) AS d FROM big');
  assert.equal(rows[0].d, 16000);
  assert.deepEqual(rows[0].embedding.map(Math.fround), input);

  await assertSqlState(client.query('SELECT $1::vector', [pgvector.toSql([...input, 1])]),
    '54000', /cannot have more than 16000 dimensions/);
});

test('a vector(3) column rejects other dimensions with 22000', async () => {
  await client.query('CREATE TABLE typed (embedding vector(3))');
  await assertSqlState(client.query('INSERT INTO typed VALUES ($1)', [pgvector.toSql([1, 2])]),
    '22000', /expected 3 dimensions, not 2/);
  await assertSqlState(client.query('INSERT INTO typed VALUES ($1)', [pgvector.toSql([1, 2, 3, 4])]),
    '22000', /expected 3 dimensions, not 4/);
  // A literal with a typmod reaches vector_in with typmod = 3 directly.
  await assertSqlState(client.query("SELECT '[1,2]'::vector(3)"), '22000', /expected 3 dimensions, not 2/);
  await client.query('INSERT INTO typed VALUES ($1)', [pgvector.toSql([4, 5, 6])]);
  const { rows } = await client.query('SELECT embedding FROM typed');
  assert.deepEqual(rows.map((r) => r.embedding), [[4, 5, 6]]);
});

test('NULL, empty, non-finite and out-of-range inputs', async () => {
  const { rows } = await client.query('SELECT $1::vector AS v', [pgvector.toSql(null)]);
  assert.equal(rows[0].v, null);
  await assertSqlState(client.query('SELECT $1::vector', [pgvector.toSql([])]), '22000',
    /at least 1 dimension/);
  // JSON.stringify prints NaN and Infinity as null, which is not a number.
  await assertSqlState(client.query('SELECT $1::vector', [pgvector.toSql([1, NaN])]), '22P02');
  await assertSqlState(client.query('SELECT $1::vector', [pgvector.toSql([1e39])]), '22003',
    /out of range for type vector/);
  await assertSqlState(client.query('SELECT $1::vector', ['[1,NaN]']), '22000', /NaN not allowed/);
  await assertSqlState(client.query('SELECT $1::vector', ['[-Infinity]']), '22000',
    /infinite value not allowed/);
  await assertSqlState(client.query('SELECT $1::vector', ['1,2']), '22P02', /invalid input syntax/);
  // The connection is still usable after all those errors.
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

test("pgvector's README workflow: nearest neighbours by L2 distance", async () => {
  await client.query('CREATE TABLE nn (id int PRIMARY KEY, embedding vector(3))');
  const vectors = [[1, 1, 1], [2, 2, 2], [1, 1, 2], [-5, 0, 0]];
  for (const [i, v] of vectors.entries()) {
    await client.query('INSERT INTO nn VALUES ($1, $2)', [i + 1, pgvector.toSql(v)]);
  }
  const { rows } = await client.query(
    'SELECT id, embedding FROM nn ORDER BY embedding <-> $1 LIMIT 3', [pgvector.toSql([1, 1, 1])]);
  assert.deepEqual(rows.map((r) => r.id), [1, 3, 2]);
  assert.deepEqual(rows[0].embedding, [1, 1, 1]);
});
