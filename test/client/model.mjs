// model.mjs: a reference model of how the server should treat vector input,
// used by the fuzz test as an oracle.  It predicts, for a text string
// (vector_in, i.e. pgvector's grammar with glibc strtof() elements) or a
// binary payload (vector_recv plus PostgreSQL's bind-message checks), either
// the float32 values that are stored or the SQLSTATE of the first error, in
// the order the server checks them.
//
// SQLSTATEs (see the README of the extension):
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

// Value of a hexadecimal float (sign, hex digits with an optional point,
// decimal binary exponent) as a double; exact for mantissas up to 53 bits,
// and float32-correct apart from vanishingly rare double rounding.
function hexValue(sign, digits, expText) {
  const point = digits.indexOf('.');
  const fracDigits = point < 0 ? 0 : digits.length - point - 1;
  let mant = BigInt(`0x${digits.replace('.', '') || '0'}`);
  const neg = sign === '-';
  if (mant === 0n) return neg ? -0 : 0;
  let exp = (expText === undefined ? 0 : Number(expText)) - 4 * fracDigits;
  // Keep at most 64 significant bits (a sticky bit stands for the rest).
  const extra = mant.toString(2).length - 64;
  if (extra > 0) {
    const lost = mant & ((1n << BigInt(extra)) - 1n);
    mant = (mant >> BigInt(extra)) | (lost ? 1n : 0n);
    exp += extra;
  }
  // Beyond these the float32 result is certainly overflow or zero.
  exp = Math.max(-5000, Math.min(5000, exp));
  let x = Number(mant);
  while (exp > 0 && Number.isFinite(x)) {
    const step = Math.min(exp, 1000);
    x *= 2 ** step;
    exp -= step;
  }
  while (exp < 0 && x !== 0) {
    const step = Math.min(-exp, 1000);
    x *= 2 ** -step;
    exp += step;
  }
  return neg ? -x : x;
}

// strtof(s + i): null when nothing converts, else { end, value, overflow }.
// value is the float32 result; overflow mirrors ERANGE with an infinite
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
  let x;
  if (m) {
    x = hexValue(m[1], m[2], m[3]);
  } else {
    RE_DEC.lastIndex = i;
    m = RE_DEC.exec(s);
    if (!m) return null;
    x = Number(m[0]);
  }
  const value = Math.fround(x);
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
