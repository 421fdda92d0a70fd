// A second opinion on a safetensors file from Python's standard library alone (the format, not our reader, is under
// test): the layout (header length, offsets that tile the data, byte counts that match dtype x shape), each
// tensor's SHA-256, its CRC-32 against the file's `qstep_crc32` metadata where present, and the CRC-32 of the
// header. If the `safetensors` package is installed, its loader reads the file too. Used by the snapshot-file and
// checkpoint tests.

import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import json, struct, sys, hashlib, zlib
path = sys.argv[1]
with open(path, 'rb') as f:
    data = f.read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
meta = header.pop('__metadata__', {})
crcs = json.loads(meta['qstep_crc32']) if 'qstep_crc32' in meta else None
base = 8 + n
size = {'F32': 4, 'F16': 2, 'BF16': 2, 'U8': 1}
out = {'metadata': meta, 'headerCrc32': '%08x' % zlib.crc32(data[:8 + n]), 'size': len(data), 'tensors': {}}
end = 0
for name, t in header.items():
    b, e = t['data_offsets']
    count = 1
    for d in t['shape']:
        count *= d
    assert e - b == count * size[t['dtype']], name
    end = max(end, e)
    body = data[base + b:base + e]
    if crcs is not None:
        assert '%08x' % zlib.crc32(body) == crcs[name], name
    out['tensors'][name] = {'dtype': t['dtype'], 'shape': t['shape'], 'sha256': hashlib.sha256(body).hexdigest()}
assert base + end == len(data)
try:
    from safetensors.numpy import load_file
    out['safetensors_module'] = sorted(load_file(path).keys())
except ImportError:
    out['safetensors_module'] = None
print(json.dumps(out))
`;

export interface PySafetensors {
  metadata: Record<string, string>;
  headerCrc32: string;
  size: number;
  tensors: Record<string, { dtype: string; shape: number[]; sha256: string }>;
  /** The keys `safetensors.numpy.load_file` read, or null where the package is not installed. */
  safetensors_module: string[] | null;
}

/** The file as Python reads it; null when /usr/bin/python3 cannot be run (the caller skips its second opinion). */
export function pythonReadSafetensors(file: string): PySafetensors | null {
  const py = spawnSync(PYTHON, ['-c', SCRIPT, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (py.error) return null;
  if (py.status !== 0) throw new Error(`python's reading of ${file} failed: ${py.stderr.slice(-2000)}`);
  return JSON.parse(py.stdout) as PySafetensors;
}
