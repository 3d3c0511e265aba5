// common.mjs: helpers shared by the client test files: connecting with the
// libpq-style environment (PGHOST, PGPORT, PGUSER), creating a private test
// database with the extension, a seeded PRNG, and the pgvector binary layout
// (int16 dim, int16 unused = 0, dim float4, all big-endian).
import pg from 'pg';

// node-postgres reads PGHOST/PGPORT/PGUSER itself; a PGHOST starting with "/"
// is a Unix socket directory.
export function connectionConfig(database) {
  return {
    host: process.env.PGHOST,
    port: process.env.PGPORT ? Number(process.env.PGPORT) : undefined,
    user: process.env.PGUSER,
    database,
  };
}

// Drops and recreates `name`, creates the extension in it, and returns a
// connected client.  Each test file uses its own database so node --test may
// run the files in any order or in parallel.
export async function createTestDatabase(name) {
  const admin = new pg.Client(connectionConfig('postgres'));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client(connectionConfig(name));
  await client.connect();
  await client.query('CREATE EXTENSION retrieval');
  return client;
}

export async function dropTestDatabase(name) {
  const admin = new pg.Client(connectionConfig('postgres'));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

// mulberry32: a small, fast, deterministic 32-bit PRNG.  The fuzz runs are
// reproducible from the seed alone.
export function makeRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n), // 0 <= x < n
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // lo <= x <= hi
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
    u32: () => Math.floor(next() * 4294967296) >>> 0,
  };
}

// Encodes float32 values (given as JS numbers, rounded with Math.fround) in
// the pgvector binary layout.
export function encodeVector(values, { dim = values.length, unused = 0 } = {}) {
  const buf = Buffer.alloc(4 + 4 * values.length);
  buf.writeUInt16BE(dim & 0xffff, 0);
  buf.writeUInt16BE(unused & 0xffff, 2);
  values.forEach((v, i) => buf.writeFloatBE(v, 4 + 4 * i));
  return buf;
}

// Decodes the pgvector binary layout, checking that the length matches dim.
export function decodeVector(buf) {
  if (buf.length < 4) throw new Error(`binary vector too short: ${buf.length} bytes`);
  const dim = buf.readInt16BE(0);
  const unused = buf.readInt16BE(2);
  if (buf.length !== 4 + 4 * dim) {
    throw new Error(`binary vector of dim ${dim} has ${buf.length} bytes, expected ${4 + 4 * dim}`);
  }
  const values = [];
  for (let i = 0; i < dim; i++) values.push(buf.readFloatBE(4 + 4 * i));
  return { dim, unused, values };
}

// A random finite float32 of varied magnitude (including 0, -0, subnormals
// and values near FLT_MAX), as a JS number.
export function randomFloat32(rng) {
  switch (rng.int(6)) {
    case 0:
      return rng.pick([0, -0, 1, -1, 0.5, 1.5, -0.25, 3.4028234663852886e38, -3.4028234663852886e38,
        1.1754943508222875e-38, 1.401298464324817e-45, -1.401298464324817e-45]);
    case 1:
      return rng.range(-1000, 1000);
    case 2: {
      // Any finite bit pattern.
      const b = Buffer.alloc(4);
      for (;;) {
        b.writeUInt32BE(rng.u32());
        const v = b.readFloatBE(0);
        if (Number.isFinite(v)) return v;
      }
    }
    default:
      return Math.fround((rng.next() * 2 - 1) * 10 ** rng.range(-8, 8));
  }
}
