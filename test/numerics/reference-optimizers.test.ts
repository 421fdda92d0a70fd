// The float64 optimizer reference checked against closed forms derived by hand from docs/math.md §6, 9, 11 and 12 (no
// engine needed). These pin down the decisions the reference encodes: decay order and coupling (T2, D8), the
// momentum first step (T3), Lion's ordering (T5), the trust ratio (11), the schedulers (12), percentile clipping
// (9) and skip_zeros (D5).
import { expect } from 'chai';
import type { OptimizerName } from '../../native/lib/types';
import { rngFor } from '../helpers/random';
import { ademamixSchedule, newRefState, norm2, refStep, type RefHyper } from '../reference';

function hyper(over: Partial<RefHyper>): RefHyper {
  return {
    lr: 1e-3,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
    alpha: 0,
    tAlpha: 0,
    tBeta3: 0,
    skipZeros: false,
    maxUnorm: 0,
    percentile: 100,
    ...over,
  };
}

function closeArrays(a: Float64Array, b: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])))) expect.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

describe('reference: optimizer closed forms', () => {
  const n = 257;
  const rng = rngFor('reference optimizer closed forms');
  const p0 = rng.randn(n, 0.1);
  const g1 = rng.randn(n, 0.01);
  const g2 = rng.randn(n, 0.01);

  it('adam: first step is p - lr*g/(|g| + eps), then decoupled decay after the step (T1)', () => {
    const h = hyper({ weightDecay: 0.1 });
    const p = p0.slice();
    const st = newRefState('adam', n, 100);
    refStep('adam', p, g1, st, h);
    const want = p0.map((x, i) => (x - (h.lr * g1[i]) / (Math.abs(g1[i]) + h.eps)) * (1 - h.lr * h.weightDecay));
    closeArrays(p, want, 1e-12, 'p');
    closeArrays(
      st.s1,
      g1.map((g) => 0.1 * g),
      1e-12,
      'm',
    );
    closeArrays(
      st.s2!,
      g1.map((g) => 0.001 * g * g),
      1e-12,
      'v',
    );
  });

  it('sgd: buffer = first decayed gradient, then momentum*buf + g + wd*p (coupled, T3)', () => {
    const h = hyper({ lr: 0.01, betas: [0.9, 0], eps: 0, weightDecay: 0.05 });
    const p = p0.slice();
    const st = newRefState('sgd', n, 100);
    st.s1.fill(123); // whatever the buffer holds, t = 1 overwrites it
    refStep('sgd', p, g1, st, h);
    const s1 = g1.map((g, i) => g + 0.05 * p0[i]);
    const p1 = p0.map((x, i) => x - 0.01 * s1[i]);
    closeArrays(p, p1, 1e-12, 'p after 1');
    refStep('sgd', p, g2, st, h);
    const s2 = s1.map((s, i) => 0.9 * s + g2[i] + 0.05 * p1[i]);
    closeArrays(st.s1, s2, 1e-12, 'buffer after 2');
    closeArrays(
      p,
      p1.map((x, i) => x - 0.01 * s2[i]),
      1e-12,
      'p after 2',
    );
  });

  it('rmsprop and adagrad: decayed gradient in the state and in the numerator (D8)', () => {
    for (const name of ['rmsprop', 'adagrad'] as const) {
      const h = hyper({ lr: 0.01, betas: [0.9, 0], eps: 1e-8, weightDecay: 0.02 });
      const p = p0.slice();
      const st = newRefState(name, n, 100);
      refStep(name, p, g1, st, h);
      const gd = g1.map((g, i) => g + 0.02 * p0[i]);
      const s = gd.map((g) => (name === 'adagrad' ? 1 : 0.1) * g * g);
      closeArrays(st.s1, s, 1e-12, `${name} state`);
      closeArrays(
        p,
        p0.map((x, i) => x - (0.01 * gd[i]) / (Math.sqrt(s[i]) + 1e-8)),
        1e-12,
        `${name} p`,
      );
    }
  });

  it('lion: decay before the sign step, sign of the beta1 interpolation, EMA with beta2 afterwards (T5)', () => {
    const h = hyper({ lr: 1e-4, betas: [0.9, 0.99], eps: 0, weightDecay: 0.1 });
    const p = p0.slice();
    const st = newRefState('lion', n, 100);
    refStep('lion', p, g1, st, h);
    const s1 = g1.map((g) => 0.01 * g);
    closeArrays(
      p,
      p0.map((x, i) => x * (1 - 1e-5) - 1e-4 * Math.sign(g1[i])),
      1e-12,
      'p after 1',
    );
    const pa = p.slice();
    refStep('lion', p, g2, st, h);
    closeArrays(
      p,
      pa.map((x, i) => x * (1 - 1e-5) - 1e-4 * Math.sign(0.9 * s1[i] + 0.1 * g2[i])),
      1e-12,
      'p 2',
    );
    closeArrays(
      st.s1,
      s1.map((s, i) => 0.99 * s + 0.01 * g2[i]),
      1e-12,
      'EMA',
    );
  });

  it('lamb: trust ratio caps ||lr*u|| at max_unorm*||p||*lr, decay not scaled; zero-norm params never move', () => {
    const h = hyper({ maxUnorm: 0.01, weightDecay: 0.01 });
    const p = p0.slice();
    const st = newRefState('lamb', n, 100);
    const info = refStep('lamb', p, g1, st, h);
    const u = g1.map((g) => g / (Math.abs(g) + h.eps));
    const scale = (0.01 * norm2(p0)) / norm2(u);
    expect(scale).to.be.lessThan(1);
    expect(info.updateScale).to.be.closeTo(scale, 1e-12);
    expect(info.unorm).to.be.closeTo(norm2(u) ** 2, 1e-9);
    expect(st.unorm).to.equal(info.unorm);
    closeArrays(
      p,
      p0.map((x, i) => (x - scale * h.lr * u[i]) * (1 - h.lr * 0.01)),
      1e-12,
      'p',
    );
    const z = new Float64Array(n);
    const iz = refStep('lamb', z, g1, newRefState('lamb', n, 100), h);
    expect(iz.updateScale).to.equal(0);
    expect(Array.from(z).every((x) => x === 0)).to.equal(true);
  });

  it('lars: update norm from the buffer without the decay term, threshold max_unorm*||p|| (11)', () => {
    const h = hyper({ lr: 0.01, betas: [0.9, 0], eps: 0, weightDecay: 0.5, maxUnorm: 0.02 });
    const p = p0.slice();
    const st = newRefState('lars', n, 100);
    const info = refStep('lars', p, g1, st, h);
    expect(info.unorm).to.be.closeTo(norm2(g1) ** 2, 1e-15); // g, not g + wd*p, at t = 1
    const scale = Math.min(1, (0.02 * norm2(p0)) / norm2(g1));
    expect(info.updateScale).to.be.closeTo(scale, 1e-12);
    closeArrays(
      p,
      p0.map((x, i) => x - scale * 0.01 * (g1[i] + 0.5 * x)),
      1e-12,
      'p',
    );
  });

  it('ademamix: schedulers start at (0, beta1), reach (alpha, beta3) at their horizons (12)', () => {
    const h = hyper({ betas: [0.9, 0.999, 0.9999], alpha: 5, tAlpha: 20, tBeta3: 20 });
    expect(ademamixSchedule(h, 10).alpha).to.be.closeTo(2.5, 1e-12);
    expect(ademamixSchedule(h, 20).alpha).to.equal(5);
    expect(ademamixSchedule(h, 40).alpha).to.equal(5);
    expect(ademamixSchedule(h, 1e-9).beta3).to.be.closeTo(0.9, 1e-6);
    expect(ademamixSchedule(h, 20).beta3).to.equal(Math.fround(0.9999));
    let last = 0;
    for (let t = 1; t <= 20; t++) {
      const b = ademamixSchedule(h, t).beta3;
      expect(b).to.be.greaterThan(last);
      last = b;
    }
    const flat = ademamixSchedule(hyper({ betas: [0.9, 0.999, 0.9999], alpha: 5 }), 3);
    expect(flat).to.deep.equal({ alpha: 5, beta3: Math.fround(0.9999) });
    // First step: m1/c1 = g, m2 = (1-beta3)g (beta3 as the fp32 the kernel receives), sqrt(nu)/c2 = |g|.
    const p = p0.slice();
    const st = newRefState('ademamix', n, 100);
    const hh = hyper({ betas: [0.9, 0.999, 0.9999], alpha: 5, weightDecay: 0.01 });
    refStep('ademamix', p, g1, st, hh);
    const m2 = 1 - Math.fround(0.9999);
    closeArrays(
      p,
      p0.map((x, i) => (x - (1e-3 * (g1[i] + 5 * m2 * g1[i])) / (Math.abs(g1[i]) + 1e-8)) * (1 - 1e-5)),
      1e-12,
      'p',
    );
  });

  it('percentile clipping: first step never clipped; a larger norm is scaled to the percentile (9)', () => {
    const h = hyper({ percentile: 5 });
    const st = newRefState('adam', n, 5);
    const p = p0.slice();
    const big = g1.map((g) => g * 1000);
    expect(refStep('adam', p, big, st, h).gnormScale).to.equal(1);
    expect(Array.from(st.hist!).every((x) => x === st.hist![0])).to.equal(true);
    const info = refStep(
      'adam',
      p,
      big.map((g) => g * 3),
      st,
      h,
    ); // history: 99 x |g|^2, then 9 |g|^2
    expect(info.gnormScale).to.be.closeTo(1 / 3, 1e-12);
    expect(st.hist![2]).to.be.closeTo(9 * st.hist![0], 1e-6 * st.hist![2]);
  });

  it('skip_zeros: a zero gradient keeps parameter and state, even with weight decay (D5)', () => {
    const names: OptimizerName[] = ['adam', 'sgd', 'rmsprop', 'adagrad', 'lion'];
    for (const name of names) {
      const h = hyper({
        skipZeros: true,
        weightDecay: 0.1,
        lr: 0.01,
        betas: name === 'lion' ? [0.9, 0.99] : [0.9, 0.999],
      });
      const g = g1.map((x, i) => (i % 3 === 0 ? 0 : x));
      const p = p0.slice();
      const st = newRefState(name, n, 100);
      st.s1.fill(0.5);
      refStep(name, p, g, st, h);
      for (let i = 0; i < n; i += 3) {
        expect(p[i], `${name} p[${i}]`).to.equal(p0[i]);
        expect(st.s1[i], `${name} state[${i}]`).to.equal(0.5);
      }
      expect(p[1]).to.not.equal(p0[1]);
    }
  });
});
