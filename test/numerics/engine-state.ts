// Reading the engine's exported state (docs/math.md §3.3, 15) back into numbers: fp32 states as they are, 8-bit states
// dequantized as qmap[code] * scale (docs/math.md §7.1) with the scale of the code's block (blockwise8: absmax rows x
// blocks; static8: one max per tensor, per row for AdEMAMix's two EMAs). The maps stored with the state must be
// the Appendix A tables bit for bit (D9).
import type { StateSnapshot } from '../../native/lib';
import { assertBytesEqual, check } from '../helpers/compare';
import { f32Array, u8Array } from '../helpers/dtype';
import { SIGNED_MAP, UNSIGNED_MAP } from '../reference';

export interface DecodedState {
  name: 'state1' | 'state2';
  /** fp32 values (fp32 mode) or dequantized values (8-bit modes), rows x n flattened. */
  values: Float64Array;
  /** 8-bit modes only. */
  codes: Uint8Array | null;
  scales: Float32Array | null;
  /** Index into `scales` of each element (8-bit modes). */
  group: Int32Array | null;
  signed: boolean;
  map: Float32Array;
}

function tensor(snap: StateSnapshot, name: string, dtype: 'f32' | 'u8', length: number) {
  const t = snap.tensors[name];
  check(t !== undefined, `exported state lacks tensor ${name} (has ${Object.keys(snap.tensors).join(', ')})`);
  check(t.dtype === dtype, `tensor ${name} has dtype ${t.dtype}, expected ${dtype}`);
  const width = dtype === 'f32' ? 4 : 1;
  check(t.data.length === length * width, `tensor ${name} has ${t.data.length / width} elements, expected ${length}`);
  return t.data;
}

/** The maps shipped with 8-bit state must be Appendix A bit for bit: qmap1 signed, qmap2 unsigned. */
export function checkMaps(snap: StateSnapshot, names: ('state1' | 'state2')[], label: string): void {
  for (const s of names) {
    const which = s === 'state1' ? 'qmap1' : 'qmap2';
    const ref = s === 'state1' ? SIGNED_MAP : UNSIGNED_MAP;
    const data = tensor(snap, which, 'f32', 256);
    assertBytesEqual(
      `${label}: ${which} vs Appendix A`,
      u8Array(data),
      new Uint8Array(ref.buffer, ref.byteOffset, 1024),
    );
  }
}

export function decodeStates(
  snap: StateSnapshot,
  names: ('state1' | 'state2')[],
  rows: number,
  n: number,
  blockSize: number,
): DecodedState[] {
  return names.map((name) => {
    const r = name === 'state1' ? rows : 1;
    const total = r * n;
    const signed = name === 'state1';
    const map = signed ? SIGNED_MAP : UNSIGNED_MAP;
    if (snap.mode === 'fp32') {
      const values = Float64Array.from(f32Array(tensor(snap, name, 'f32', total)));
      return { name, values, codes: null, scales: null, group: null, signed, map };
    }
    const codes = u8Array(tensor(snap, name, 'u8', total));
    const idx = name === 'state1' ? '1' : '2';
    const group = new Int32Array(total);
    let scales: Float32Array;
    if (snap.mode === 'blockwise8') {
      const blocks = Math.ceil(n / blockSize);
      scales = f32Array(tensor(snap, `absmax${idx}`, 'f32', r * blocks));
      for (let row = 0; row < r; row++) {
        for (let b = 0; b < blocks; b++) {
          group.fill(row * blocks + b, row * n + b * blockSize, row * n + Math.min(n, (b + 1) * blockSize));
        }
      }
    } else {
      const t = snap.tensors[`max${idx}`];
      check(t !== undefined, `static8 state lacks max${idx}`);
      const len = t.data.length / 4;
      check(len === 1 || len === r, `max${idx} has ${len} floats, expected 1 or ${r}`);
      scales = f32Array(t.data);
      for (let row = 0; row < r; row++) group.fill(len === 1 ? 0 : row, row * n, (row + 1) * n);
    }
    const values = new Float64Array(total);
    for (let j = 0; j < total; j++) values[j] = Math.fround(map[codes[j]] * scales[group[j]]);
    return { name, values, codes, scales, group, signed, map };
  });
}
