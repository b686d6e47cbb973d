#!/usr/bin/env python3
# Regenerate: python3 tests/profiles/gen_min_jfr.py fuzz/corpus/jfr_parse/minimal_compressed.jfr compressed
#             python3 tests/profiles/gen_min_jfr.py fuzz/corpus/jfr_parse/minimal_uncompressed.jfr plain
# Writes a minimal uncompressed JFR chunk (one ExecutionSample) for the fuzz
# corpus and the no-JDK unit test.
import struct, sys
COMPRESSED = sys.argv[2] == 'compressed'
def leb(v):
    v &= (1 << 64) - 1
    out = b''
    for i in range(8):
        if v < 0x80: return out + bytes([v])
        out += bytes([(v & 0x7f) | 0x80]); v >>= 7
    return out + bytes([v & 0xff])
def i32(v): return leb(v) if COMPRESSED else struct.pack('>i', v)
def i64(v): return leb(v) if COMPRESSED else struct.pack('>q', v)
def size_prefix(b): # event size includes itself; a fixed 4-byte form when compressed
    if COMPRESSED:
        n = len(b) + 4
        return bytes([(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, ((n >> 14) & 0x7f) | 0x80, (n >> 21) & 0x7f]) + b
    return struct.pack('>i', len(b) + 4) + b
strings = []
def s(x):
    if x not in strings: strings.append(x)
    return strings.index(x)
def elem(name, attrs, children):
    b = i32(s(name)) + i32(len(attrs))
    for k, v in attrs: b += i32(s(k)) + i32(s(v))
    b += i32(len(children))
    for c in children: b += c
    return b
def cls(id, name, fields):
    sup = [('superType', 'jdk.jfr.Event')] if name == 'jdk.ExecutionSample' else []
    return elem('class', [('name', name), ('id', str(id))] + sup,
                [elem('field', [('name', n), ('class', str(t))] + ([('constantPool', 'true')] if cp else []) + ([('dimension', '1')] if arr else []), []) for n, t, cp, arr in fields])
classes = [cls(10, 'long', []), cls(11, 'int', []), cls(12, 'java.lang.String', []), cls(13, 'boolean', []),
  cls(20, 'jdk.types.Symbol', [('string', 12, False, False)]),
  cls(21, 'java.lang.Class', [('name', 20, True, False)]),
  cls(22, 'jdk.types.Method', [('type', 21, True, False), ('name', 20, True, False)]),
  cls(23, 'jdk.types.StackFrame', [('method', 22, True, False), ('lineNumber', 11, False, False)]),
  cls(24, 'jdk.types.StackTrace', [('truncated', 13, False, False), ('frames', 23, False, True)]),
  cls(30, 'jdk.ExecutionSample', [('startTime', 10, False, False), ('stackTrace', 24, True, False)])]
root = elem('root', [], [elem('metadata', [], classes), elem('region', [], [])])
def jstr(x): b = x.encode(); return b'\x03' + i32(len(b)) + b
body = i64(0) + i64(0) + i64(0) + i64(0) + i32(len(strings)) + b''.join(jstr(x) for x in strings) + root
meta = size_prefix(body)
pools = [(20, [(1, jstr('com/example/Foo')), (2, jstr('hot')), (3, jstr('main'))]),
         (21, [(1, i64(1))]),
         (22, [(1, i64(1) + i64(2)), (2, i64(1) + i64(3))]),
         (24, [(7, b'\x00' + i32(2) + i64(1) + i32(42) + i64(2) + i32(7))])]
cpb = i64(1) + i64(0) + i64(0) + i64(0) + b'\x00' + i32(len(pools))
for t, entries in pools:
    cpb += i64(t) + i32(len(entries))
    for k, v in entries: cpb += i64(k) + v
cp = size_prefix(cpb)
ev = i64(30) + i64(123) + i64(7)
event = size_prefix(ev)
events = event * 3
meta_off = 68; cp_off = meta_off + len(meta); ev_off = cp_off + len(cp)
size = ev_off + len(events)
Q = lambda v: struct.pack('>q', v)
hdr = b'FLR\x00' + struct.pack('>HH', 2, 0) + Q(size) + Q(cp_off) + Q(meta_off) + Q(0) + Q(0) + Q(0) + Q(1000000000) + struct.pack('>i', 1 if COMPRESSED else 0)
assert len(hdr) == 68
open(sys.argv[1], 'wb').write(hdr + meta + cp + events)
