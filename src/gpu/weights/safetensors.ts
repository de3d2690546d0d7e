import { readFile, writeFile } from 'node:fs/promises';
import type { F32Tensor, WeightMap } from './tensor.js';
import { numel } from './tensor.js';

/**
 * safetensors read/write (https://github.com/huggingface/safetensors, format section): an 8-byte
 * little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin,
 * end]}, "__metadata__"?: {…}}`, then the raw little-endian tensor bytes, offsets relative to
 * the end of the header. No maintained npm package reads and writes it (checked), and the
 * format is small, so it is implemented here and tested against hand-computed bytes.
 *
 * Reading converts F32, F16, BF16 and F64 tensors to float32 (the runtime's dtype).
 */

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Raised for a file that is not valid safetensors; names the file and the byte offset. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Parses safetensors bytes into float32 tensors.
 *
 * 1. Reads the header length (u64 LE) and checks it fits the file.
 * 2. Parses the JSON header; checks every entry's dtype, shape and offsets (inside the data
 *    area, size = numel × dtype size).
 * 3. Copies (or converts) each tensor into its own Float32Array (aligned, independent of `bytes`).
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): { tensors: Map<string, F32Tensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new SafetensorsError(`${source}: ${bytes.byteLength} bytes is too short for a safetensors file (needs an 8-byte header length)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.byteLength) {
    throw new SafetensorsError(`${source}: header length ${n} at byte 0 runs past the end of the file (${bytes.byteLength} bytes); not a safetensors file?`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (err) {
    throw new SafetensorsError(`${source}: header (bytes 8..${8 + n}) is not JSON: ${(err as Error).message}`);
  }
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, F32Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as HeaderEntry;
    const size = BYTES[e.dtype];
    if (size === undefined) throw new SafetensorsError(`${source}: tensor "${name}" has dtype ${e.dtype}; supported: ${Object.keys(BYTES).join(', ')}`);
    const [begin, end] = e.data_offsets;
    const count = numel(e.shape);
    if (!(begin >= 0 && end <= dataLen && end - begin === count * size)) {
      throw new SafetensorsError(
        `${source}: tensor "${name}" data_offsets [${begin}, ${end}] do not match shape [${e.shape}] × ${size} bytes inside a data area of ${dataLen} bytes (starting at byte ${dataStart})`,
      );
    }
    const at = bytes.byteOffset + dataStart + begin;
    const out = new Float32Array(count);
    const dv = new DataView(bytes.buffer, at, end - begin);
    for (let i = 0; i < count; i++) {
      switch (e.dtype) {
        case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
        case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
        case 'F16': out[i] = f16ToF32(dv.getUint16(i * 2, true)); break;
        case 'BF16': out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!; break;
      }
    }
    tensors.set(name, { dims: [...e.shape], data: out });
  }
  return { tensors, metadata };
}

/**
 * Encodes float32 tensors as safetensors (dtype F32), names sorted, header padded with spaces to
 * a multiple of 8 bytes as the reference writer does.
 */
export function encodeSafetensors(tensors: WeightMap, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (t.data.length !== numel(t.dims)) throw new SafetensorsError(`tensor "${name}": ${t.data.length} values for shape [${t.dims}]`);
    header[name] = { dtype: 'F32', shape: [...t.dims], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).byteLength) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  const dv = new DataView(out.buffer);
  for (const name of names) {
    const d = tensors.get(name)!.data;
    for (let i = 0; i < d.length; i++) dv.setFloat32(at + i * 4, d[i]!, true);
    at += d.byteLength;
  }
  return out;
}

/** Reads a `.safetensors` file into float32 tensors. */
export async function readSafetensors(path: string): Promise<Map<string, F32Tensor>> {
  return parseSafetensors(await readFile(path), path).tensors;
}

/** Writes float32 tensors to a `.safetensors` file. */
export async function writeSafetensors(path: string, tensors: WeightMap, metadata?: Record<string, string>): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
