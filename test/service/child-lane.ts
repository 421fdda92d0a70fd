// Child process for "a lane killed mid-step": opens one lane of a two-lane step on its own connection, sends the
// header and half of its gradient chunks, says HALF on stdout and then waits to be killed. Client library only.

import { connect } from '../../client';

const [address, model, param, from, to] = process.argv.slice(2);
const client = connect(address, { lanes: 1 });
const call = client.grpc.Step();
call.on('data', () => undefined);
call.on('error', () => undefined);
const lo = Number(from);
const n = Number(to) - lo;
const grad = new Float32Array(n);
for (let i = 0; i < n; i++) grad[i] = Math.random() - 0.5;
const bytes = Buffer.from(grad.buffer);
const chunk = 64 * 1024;
call.write({
  header: {
    model,
    workerId: 'lanes',
    stepId: '1',
    gradients: [{ param }],
    lane: { index: 1, count: 2, slices: [{ param, offset: lo, count: n }] },
  },
});
for (let at = 0; at < bytes.length / 2; at += chunk) {
  call.write({ gradient: { param, offset: lo + at / 4, dtype: 'DTYPE_FP32', data: bytes.subarray(at, at + chunk) } });
}
process.stdout.write('HALF\n');
setInterval(() => undefined, 1000);
