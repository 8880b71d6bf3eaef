import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/special.json';
import { chiSquareSf, logGamma, regularizedGammaP, regularizedGammaQ } from './gamma';
import { kolmogorovNSf, kolmogorovSf, smirnovSf } from './kolmogorov';

/** |ours − scipy| ≤ atol + rtol·|scipy|. */
function close(actual: number, expected: number, rtol: number, atol = 0): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(atol + rtol * Math.abs(expected));
}

describe('gamma functions match SciPy', () => {
  it('logGamma exact values', () => {
    close(logGamma(1), 0, 0, 1e-15);
    close(logGamma(5), Math.log(24), 1e-14);
    close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
  });
  it('regularized incomplete gamma (gammainc / gammaincc)', () => {
    for (const c of fixture.gamma) {
      close(regularizedGammaP(c.a, c.x), c.p, 1e-11, 1e-300);
      close(regularizedGammaQ(c.a, c.x), c.q, 1e-11, 1e-300);
    }
  });
  it('chi-square survival function', () => {
    for (const c of fixture.chi2) close(chiSquareSf(c.x, c.dof), c.sf, 1e-11, 1e-300);
  });
});

describe('Kolmogorov distributions match SciPy', () => {
  it('kstwobign.sf', () => {
    for (const c of fixture.kstwobign) close(kolmogorovSf(c.x), c.sf, 1e-13, 1e-16);
  });
  it('smirnov (one-sided, exact)', () => {
    for (const c of fixture.smirnov) close(smirnovSf(c.n, c.x), c.sf, 1e-10, 1e-15);
  });
  it('kstwo.sf over every algorithm branch', () => {
    for (const c of fixture.kstwo) close(kolmogorovNSf(c.n, c.x), c.sf, 1e-9, 1e-12);
  });
});
