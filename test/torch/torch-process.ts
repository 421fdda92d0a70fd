// A live PyTorch child process (torch_runner.py under Debian's /usr/bin/python3, which has python3-torch; the
// python3 first on PATH cannot import it). Frames: u32 LE header length, JSON header, float32 blobs.
// start() fails loudly, with the interpreter's own words, when PyTorch is missing: the cross-check never skips.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

export const PYTHON = process.env.QSTEP_TORCH_PYTHON ?? '/usr/bin/python3';

export interface Reply {
  header: Record<string, unknown>;
  blobs: Record<string, Buffer>;
}

export class TorchProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private stderr = '';
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private exited: string | null = null;

  private constructor() {
    this.child = spawn(PYTHON, [join(__dirname, 'torch_runner.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.drain();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const fail = (why: string): void => {
      this.exited = `${why}\n${this.stderr}`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`PyTorch process: ${this.exited}`));
    };
    this.child.on('error', (e) => fail(`could not start ${PYTHON}: ${e.message}`));
    this.child.on('exit', (code, sig) => fail(`${PYTHON} torch_runner.py exited (code ${code}, signal ${sig})`));
  }

  static async start(): Promise<{ proc: TorchProcess; version: string }> {
    const proc = new TorchProcess();
    try {
      const r = await proc.request({ cmd: 'hello' });
      return { proc, version: String(r.header.torch) };
    } catch (e) {
      proc.close();
      throw new Error(
        `the PyTorch cross-check needs ${PYTHON} with PyTorch (Debian: apt-get install -y python3-torch); ` +
          `${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  private drain(): void {
    for (;;) {
      if (this.buffer.length < 4) return;
      const hlen = this.buffer.readUInt32LE(0);
      if (this.buffer.length < 4 + hlen) return;
      const header = JSON.parse(this.buffer.subarray(4, 4 + hlen).toString('utf8')) as Record<string, unknown>;
      const specs = (header.blobs ?? []) as { name: string; bytes: number }[];
      const total = specs.reduce((a, b) => a + b.bytes, 0);
      if (this.buffer.length < 4 + hlen + total) return;
      let off = 4 + hlen;
      const blobs: Record<string, Buffer> = {};
      for (const s of specs) {
        blobs[s.name] = Buffer.from(this.buffer.subarray(off, off + s.bytes));
        off += s.bytes;
      }
      this.buffer = this.buffer.subarray(off);
      const w = this.waiting.shift();
      if (!w) continue;
      if (typeof header.error === 'string') w.reject(new Error(`torch_runner.py: ${header.error}`));
      else w.resolve({ header, blobs });
    }
  }

  request(header: Record<string, unknown>, blobs: Record<string, Buffer> = {}): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error(`PyTorch process: ${this.exited}`));
    const names = Object.keys(blobs);
    const h = Buffer.from(
      JSON.stringify({ ...header, blobs: names.map((name) => ({ name, bytes: blobs[name].length })) }),
    );
    const len = Buffer.alloc(4);
    len.writeUInt32LE(h.length, 0);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(Buffer.concat([len, h, ...names.map((n) => blobs[n])]));
    });
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}
