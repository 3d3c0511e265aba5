// model.mjs: a reference model of how the server should treat vector input,
// used by the fuzz test as an oracle.  It predicts, for a text string
// (vector_in, i.e. pgvector's grammar with glibc strtof() elements) or a
// binary payload (vector_recv plus PostgreSQL's bind-message checks), either
// the float32 values that are stored or the SQLSTATE of the first error, in
// the order the server checks them.
//
// SQLSTATEs (the table in docs/sql.md, plus two that PostgreSQL raises itself):
//   22P02 invalid_text_representation   malformed text
//   22000 data_exception                NaN/Inf element, no element, typmod mismatch
//   54000 program_limit_exceeded        more than 16000 elements
//   22003 numeric_value_out_of_range    element overflows float4
//   22P03 invalid_binary_representation unused != 0, payload shorter than dim
//                                       floats (vector_recv); bytes left over
//                                       after vector_recv (PostgreSQL's
//                                       exec_bind_message: "incorrect binary
//                                       data format in bind parameter 1")
//   08P01 protocol_violation            payload under 4 bytes: PostgreSQL's
//                                       pq_getmsgint() "insufficient data left
//                                       in message" while reading the header

export const MAX_DIM = 16000;

const SPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);

function skipSpace(s, i) {
  while (i < s.length && SPACE.has(s[i])) i++;
  return i;
}

// What glibc strtof() accepts at a position (sticky regexes: match exactly
// there).  Optional parts (exponent, "(...)" after nan, "inity") are taken
// only when complete, as strtof() does.
const RE_SPECIAL = /[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)/iy;
const RE_HEX = /([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?[0-9]+))?/y;
const RE_DEC = /[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;

// Rounding to float4.  strtof() rounds the exact decimal (or hexadecimal)
// value once; Math.fround(Number(text)) rounds twice, via a double, and the
// two differ exactly when that double is a midpoint between two adjacent
// float4 values (any midpoint is itself a double).  The fuzz does produce such
// strings, e.g. a float4 printed to 17 digits with a digit changed, so
// midpoints are settled against the exact value with BigInt arithmetic.

const scratch = new DataView(new ArrayBuffer(8));

// The float4 next to f (a float4) away from zero on d's side, or toward it.
function float32Neighbour(f, d) {
  if (f === 0) return d > 0 ? 2 ** -149 : -(2 ** -149);
  scratch.setFloat32(0, f);
  const bits = scratch.getUint32(0);
  scratch.setUint32(0, Math.abs(d) > Math.abs(f) ? bits + 1 : bits - 1);
  return scratch.getFloat32(0);
}

// |m| = D * 2^B for a finite, non-zero double m.
function decomposeDouble(m) {
  scratch.setFloat64(0, Math.abs(m));
  const hi = scratch.getUint32(0);
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(scratch.getUint32(4));
  return exp === 0 ? { D: frac, B: -1074 } : { D: frac | (1n << 52n), B: exp - 1075 };
}

// sign(M * base^E - |m|) for BigInt M >= 0, base 10 or 2, BigInt E.
function compareExact(M, base, E, m) {
  const { D, B } = decomposeDouble(m);
  let left = M;
  let right = D;
  if (E >= 0n) left *= BigInt(base) ** E;
  else right *= BigInt(base) ** -E;
  if (B >= 0) right <<= BigInt(B);
  else left <<= BigInt(-B);
  return left > right ? 1 : left < right ? -1 : 0;
}

// The float4 nearest to neg * M * base^E (ties to even, overflow to
// infinity), given d, that value rounded to a double.
function roundToFloat32(neg, M, base, E, d) {
  const f = Math.fround(d);
  if (f === d || !Number.isFinite(d)) return f;
  const FLT_MAX = 3.4028234663852886e38;
  // Neighbours of d: f and g; beyond FLT_MAX the "neighbour" is infinity,
  // reached from FLT_MAX + half an ulp on.
  const g = Number.isFinite(f) ? float32Neighbour(f, d) : Math.sign(d) * FLT_MAX;
  const mid = Number.isFinite(f) && Number.isFinite(g) ? (f + g) / 2 : Math.sign(d) * (2 ** 128 - 2 ** 103);
  if (d !== mid) return f;
  const c = compareExact(M, base, E, d); // exact magnitude vs |d|
  if (c === 0) return f; // a true tie: fround's ties-to-even is right
  const far = Math.abs(f) > Math.abs(g) ? f : g;
  const near = far === f ? g : f;
  return c > 0 ? far : near;
}

// Decimal text (as matched by RE_DEC) -> float4.
function decimalToFloat32(text) {
  const m = /^([+-]?)([0-9]*)\.?([0-9]*)(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  const M = BigInt(`${m[2]}${m[3]}` || '0');
  const E = BigInt(m[4] ?? 0) - BigInt(m[3].length);
  return roundToFloat32(m[1] === '-', M, 10, E, Number(text));
}

// Hexadecimal float (sign, hex digits with an optional point, decimal binary
// exponent) -> float4.
function hexToFloat32(sign, digits, expText) {
  const neg = sign === '-';
  const point = digits.indexOf('.');
  const fracDigits = point < 0 ? 0 : digits.length - point - 1;
  const M = BigInt(`0x${digits.replace('.', '') || '0'}`);
  const E = BigInt(expText ?? 0) - BigInt(4 * fracDigits);
  if (M === 0n) return neg ? -0 : 0;
  // A double near the value: the top 64 bits of M (a sticky bit standing for
  // the rest) scaled by 2^E, with E clamped where the float4 result is
  // certainly infinity or zero anyway.
  let top = M;
  let exp = E;
  const extra = M.toString(2).length - 64;
  if (extra > 0) {
    const lost = M & ((1n << BigInt(extra)) - 1n);
    top = (M >> BigInt(extra)) | (lost ? 1n : 0n);
    exp += BigInt(extra);
  }
  let e = Number(exp < -5000n ? -5000n : exp > 5000n ? 5000n : exp);
  let x = Number(top);
  while (e > 0 && Number.isFinite(x)) {
    const step = Math.min(e, 1000);
    x *= 2 ** step;
    e -= step;
  }
  while (e < 0 && x !== 0) {
    const step = Math.min(-e, 1000);
    x *= 2 ** -step;
    e += step;
  }
  return roundToFloat32(neg, M, 2, E, neg ? -x : x);
}

// strtof(s + i): null when nothing converts, else { end, value, overflow }.
// value is the float4 result; overflow mirrors ERANGE with an infinite
// result (only possible for finite input text).
export function strtofModel(s, i) {
  RE_SPECIAL.lastIndex = i;
  let m = RE_SPECIAL.exec(s);
  if (m) {
    const neg = m[0][0] === '-';
    const nan = /nan/i.test(m[0]);
    return { end: i + m[0].length, value: nan ? NaN : neg ? -Infinity : Infinity, overflow: false };
  }
  RE_HEX.lastIndex = i;
  m = RE_HEX.exec(s);
  let value;
  if (m) {
    value = hexToFloat32(m[1], m[2], m[3]);
  } else {
    RE_DEC.lastIndex = i;
    m = RE_DEC.exec(s);
    if (!m) return null;
    value = decimalToFloat32(m[0]);
  }
  return { end: i + m[0].length, value, overflow: !Number.isFinite(value) };
}

// vector_in(s, typmod): { values } or { code }.
export function modelTextInput(s, typmod = -1) {
  let i = skipSpace(s, 0);
  if (s[i] !== '[') return { code: '22P02' };
  i = skipSpace(s, i + 1);
  if (s[i] === ']') return { code: '22000' };
  const values = [];
  for (;;) {
    i = skipSpace(s, i);
    if (i >= s.length || s[i] === ',' || s[i] === ']') return { code: '22P02' };
    const el = strtofModel(s, i);
    if (!el) return { code: '22P02' };
    if (el.overflow) return { code: '22003' };
    if (!Number.isFinite(el.value)) return { code: '22000' };
    if (values.length === MAX_DIM) return { code: '54000' };
    values.push(el.value);
    i = skipSpace(s, el.end);
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === ']') break;
    return { code: '22P02' };
  }
  i = skipSpace(s, i + 1);
  if (i < s.length) return { code: '22P02' };
  if (typmod !== -1 && typmod !== values.length) return { code: '22000' };
  return { values };
}

// A binary bind parameter through vector_recv (always called with typmod -1
// for parameters), PostgreSQL's leftover-bytes check, then an optional cast
// to vector(typmod).
export function modelBinaryInput(buf, typmod = -1) {
  if (buf.length < 4) return { code: '08P01' };
  const dim = buf.readUInt16BE(0);
  const unused = buf.readUInt16BE(2);
  if (dim < 1) return { code: '22000' };
  if (dim > MAX_DIM) return { code: '54000' };
  if (unused !== 0) return { code: '22P03' };
  if (buf.length - 4 < 4 * dim) return { code: '22P03' };
  const values = [];
  for (let k = 0; k < dim; k++) {
    const v = buf.readFloatBE(4 + 4 * k);
    if (!Number.isFinite(v)) return { code: '22000' };
    values.push(v);
  }
  if (buf.length > 4 + 4 * dim) return { code: '22P03' };
  if (typmod !== -1 && typmod !== dim) return { code: '22000' };
  return { values };
}
