// Child process for the "client killed mid-stream" test: opens a Step stream, sends the header and half of the
// gradient chunks, says HALF on stdout and then waits to be killed. Uses only the client library (no addon).

import { connect } from '../../client';

const [address, model, param, numel] = process.argv.slice(2);
const client = connect(address);
const call = client.grpc.Step();
call.on('data', () => undefined);
call.on('error', () => undefined);
const n = Number(numel);
const grad = new Float32Array(n);
for (let i = 0; i < n; i++) grad[i] = Math.random() - 0.5;
const bytes = Buffer.from(grad.buffer);
const chunk = 256 * 1024;
call.write({ header: { model, workerId: 'doomed', stepId: '1' } });
for (let at = 0; at < bytes.length / 2; at += chunk) {
  call.write({ gradient: { param, offset: at / 4, dtype: 'DTYPE_FP32', data: bytes.subarray(at, at + chunk) } });
}
process.stdout.write('HALF\n');
setInterval(() => undefined, 1000);
