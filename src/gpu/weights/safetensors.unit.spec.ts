import { describe, expect, it } from 'vitest';
import { encodeSafetensors, parseSafetensors, SafetensorsError } from './safetensors.js';

describe('safetensors', () => {
  it('encodes the documented layout and reads it back', () => {
    const t = new Map([
      ['b', { dims: [2], data: Float32Array.from([1.5, -2]) }],
      ['a', { dims: [1, 1], data: Float32Array.from([3]) }],
    ]);
    const bytes = encodeSafetensors(t);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.a).toEqual({ dtype: 'F32', shape: [1, 1], data_offsets: [0, 4] }); // names sorted
    expect(header.b).toEqual({ dtype: 'F32', shape: [2], data_offsets: [4, 12] });
    expect(new DataView(bytes.buffer).getFloat32(8 + n + 4, true)).toBe(1.5);
    const back = parseSafetensors(bytes).tensors;
    expect([...back.get('b')!.data]).toEqual([1.5, -2]);
    expect(back.get('a')!.dims).toEqual([1, 1]);
  });

  it('reads F16 and BF16 tensors as float32', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } });
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 6);
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    dv.setUint16(8 + hb.length, 0x3c00, true); // 1.0
    dv.setUint16(8 + hb.length + 2, 0xc000, true); // -2.0
    dv.setUint16(8 + hb.length + 4, 0x4049, true); // bf16 3.140625
    const t = parseSafetensors(bytes).tensors;
    expect([...t.get('h')!.data]).toEqual([1, -2]);
    expect(t.get('b')!.data[0]).toBeCloseTo(3.140625, 6);
  });

  it('names the file and offsets in errors', () => {
    expect(() => parseSafetensors(new Uint8Array(4), 'x.safetensors')).toThrow(/x\.safetensors: 4 bytes is too short/);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 1000n, true);
    expect(() => parseSafetensors(bad, 'y.safetensors')).toThrow(SafetensorsError);
    const hb = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }));
    const b2 = new Uint8Array(8 + hb.length + 8);
    new DataView(b2.buffer).setBigUint64(0, BigInt(hb.length), true);
    b2.set(hb, 8);
    expect(() => parseSafetensors(b2, 'z.safetensors')).toThrow(/z\.safetensors: tensor "w" data_offsets \[0, 8\] do not match shape \[4\]/);
  });
});
