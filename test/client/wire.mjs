// wire.mjs: a minimal PostgreSQL protocol-3 client (extended query protocol
// only, trust authentication only), used where node-postgres cannot go.
//
// node-postgres 8.x decodes every DataRow field as UTF-8 text before it looks
// at the column's format, so a result requested with `binary: true` arrives
// mangled: any byte >= 0x80 that is not valid UTF-8 becomes U+FFFD.  Float
// bytes are rarely valid UTF-8, so the pgvector binary output (vector_send)
// can only be checked byte for byte with a client that keeps the raw bytes.
// This one returns every result field as a Buffer.
import net from 'node:net';

const PROTOCOL_3 = 196608;

export class WireClient {
  constructor(socket) {
    this.socket = socket;
    this.pending = Buffer.alloc(0); // received bytes not yet parsed
    this.messages = []; // parsed messages not yet consumed
    this.waiter = null; // resolver of a nextMessage() call
    this.closed = null; // Error once the socket is gone
    socket.on('data', (chunk) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.#parse();
    });
    const onGone = (err) => {
      this.closed = err instanceof Error ? err : new Error('connection closed by the server');
      this.#wake();
    };
    socket.on('error', onGone);
    socket.on('close', onGone);
  }

  // Opens a session with the libpq environment (PGHOST, PGPORT, PGUSER).
  static async connect(database) {
    const host = process.env.PGHOST || '/var/run/postgresql';
    const port = Number(process.env.PGPORT || 5432);
    const user = process.env.PGUSER || 'postgres';
    const socket = host.startsWith('/')
      ? net.createConnection({ path: `${host}/.s.PGSQL.${port}` })
      : net.createConnection({ host, port });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new WireClient(socket);
    const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(PROTOCOL_3, 4);
    socket.write(Buffer.concat([startup, params]));
    for (;;) {
      const msg = await client.#nextMessage();
      if (msg.type === 'R' && msg.body.readInt32BE(0) !== 0) {
        throw new Error('wire.mjs supports only trust authentication');
      }
      if (msg.type === 'E') throw errorFromMessage(msg.body);
      if (msg.type === 'Z') return client;
    }
  }

  // Runs `sql` with the extended protocol.  params: array of
  // { format: 0 | 1, value: Buffer | string | null }.  Every result column is
  // requested in `resultFormat` (1 = binary).  Resolves to
  // { rows: (Buffer|null)[][], error: null | { code, message } }.
  async query(sql, params = [], resultFormat = 1) {
    const parts = [];
    parts.push(message('P', [cstr(''), cstr(sql), int16(0)]));
    const bind = [cstr(''), cstr(''), int16(params.length)];
    for (const p of params) bind.push(int16(p.format));
    bind.push(int16(params.length));
    for (const p of params) {
      if (p.value === null) {
        bind.push(int32(-1));
      } else {
        const bytes = Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value);
        bind.push(int32(bytes.length), bytes);
      }
    }
    bind.push(int16(1), int16(resultFormat));
    parts.push(message('B', bind));
    parts.push(message('E', [cstr(''), int32(0)]));
    parts.push(message('S', []));
    this.socket.write(Buffer.concat(parts));

    const rows = [];
    let error = null;
    for (;;) {
      const msg = await this.#nextMessage();
      if (msg.type === 'D') rows.push(parseDataRow(msg.body));
      else if (msg.type === 'E') error = errorFromMessage(msg.body);
      else if (msg.type === 'Z') return { rows, error };
    }
  }

  async close() {
    this.socket.end(message('X', []));
  }

  #parse() {
    while (this.pending.length >= 5) {
      const len = this.pending.readInt32BE(1);
      if (this.pending.length < 1 + len) break;
      this.messages.push({
        type: String.fromCharCode(this.pending[0]),
        body: this.pending.subarray(5, 1 + len),
      });
      this.pending = this.pending.subarray(1 + len);
    }
    this.#wake();
  }

  #wake() {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  async #nextMessage() {
    while (this.messages.length === 0) {
      if (this.closed) throw this.closed;
      await new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
    return this.messages.shift();
  }
}

function message(type, parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function cstr(s) {
  return Buffer.from(`${s}\0`);
}

function int16(n) {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function parseDataRow(body) {
  const n = body.readInt16BE(0);
  const fields = [];
  let off = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(off);
    off += 4;
    if (len < 0) {
      fields.push(null);
    } else {
      fields.push(Buffer.from(body.subarray(off, off + len)));
      off += len;
    }
  }
  return fields;
}

// ErrorResponse: a list of (field type byte, cstring) ended by a zero byte.
function errorFromMessage(body) {
  const fields = {};
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const type = String.fromCharCode(body[off]);
    const end = body.indexOf(0, off + 1);
    fields[type] = body.toString('utf8', off + 1, end);
    off = end + 1;
  }
  const err = new Error(fields.M);
  err.code = fields.C;
  return err;
}
