#!/usr/bin/env python3
"""Fits the polynomial coefficients used by Sources/Tensor/CPU/Kernels+Math.swift and checks them.

Run:  /work/venv/bin/python Tools/fit_kernel_polynomials.py   (needs numpy and mpmath; ~1 minute)

Each fit is a weighted minimax approximation (Lawson iterations on least squares) against mpmath,
rounded to float32; each function is then evaluated in simulated float32 arithmetic (Horner, same
operation order as the Swift code) and its maximum error in ulps printed:
  exp:  e^r = 1 + r + r^2 q(r) on |r| <= ln2/2 (degree-5 q), Cody-Waite reduction   -> ~0.92 ulp
  erf:  |x| < 1: x * P(x^2) (degree 6);  1 <= |x| <= 4: 1 - exp(L(|x| - 2.5)) (degree 10)  -> ~2.3 ulp
  tanh: |x| < 0.625: x * T(x^2) (degree 5; the Swift code uses 1 - 2/(e^2|x| + 1) above) -> ~1.1 ulp
The Swift tests re-measure the finished kernels against double-precision libm.
"""
import numpy as np, mpmath
mpmath.mp.dps = 30
f32 = np.float32
def lawson(xs, target, deg, weight, iters=80):
    A = np.stack([xs**k for k in range(deg+1)], 1) * weight[:, None]
    y = target * weight
    w = np.ones_like(xs)
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        e = np.abs(A @ c - y); w = w * e; w /= w.sum()
    return [f32(v) for v in c]
def horner(c, x):
    r = c[-1]
    for k in range(len(c) - 2, -1, -1):
        r = f32(r * x + c[k])
    return r
def ulperr(got, ref):
    ref = np.asarray(ref); got = np.asarray(got, dtype=np.float64)
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(got - ref) / ulp

# exp in f32 simulation
def fexp(x, q):
    x = x.astype(np.float32)
    t = f32(x * f32(1.4426950408889634)) + f32(12582912.0)
    n = (t - f32(12582912.0)).astype(np.float32)
    r = f32(x - n * f32(0.693359375)); r = f32(r - n * f32(-2.12194440e-4))
    p = horner(q, r)
    p = f32(f32(f32(r * r) * p + r) + f32(1))
    ni = n.astype(np.int64); n1 = ni >> 1; n2 = ni - n1
    s1 = ((n1 + 127) << 23).astype(np.uint32).view(np.float32); s2 = ((n2 + 127) << 23).astype(np.uint32).view(np.float32)
    return f32(f32(p * s1) * s2)
r = np.cos(np.linspace(0, np.pi, 3000)) * (np.log(2) / 2)
er = np.array([float(mpmath.exp(v)) for v in r])
qt = np.where(np.abs(r) < 1e-6, 0.5 + r/6, (er - 1 - r) / np.where(r == 0, 1, r**2))
xs = np.linspace(-87, 88, 200001).astype(np.float32)
ref = np.array([float(mpmath.exp(float(v))) for v in xs[::10]])
for deg in (5,):
    q = lawson(r, qt, deg, r**2 / er)
    e = ulperr(fexp(xs[::10], q), ref)
    print("exp deg", deg, "max ulp", e.max(), q)

# erf
def ferf(x, P, L, c0, thr):
    x = x.astype(np.float32); t = np.abs(x); s = f32(x * x)
    small = f32(x * horner(P, s))
    u = f32(np.minimum(t, f32(4.0)) - f32(c0))
    big = f32(1) - np.exp(horner(L, u).astype(np.float64)).astype(np.float32)  # assume exp accurate ~0.5ulp
    big = np.copysign(big, x)
    return np.where(t < thr, small, big)
xs = np.linspace(-5, 5, 100001).astype(np.float32)
ref = np.array([float(mpmath.erf(float(v))) for v in xs])
for thr, degS, degL in [(1.0, 6, 10)]:
    sx = np.linspace(1e-4, thr, 3000); tg = np.array([float(mpmath.erf(v)/v) for v in sx])
    P = lawson(sx**2, tg, degS, 1/tg)
    c0 = (thr + 4) / 2; h = (4 - thr) / 2
    ts = c0 + h * np.cos(np.linspace(0, np.pi, 3000))
    tg2 = np.array([float(mpmath.log(mpmath.erfc(v))) for v in ts]); ec = np.exp(tg2)
    L = lawson(ts - c0, tg2, degL, ec / (1 - ec))
    e = ulperr(ferf(xs, P, L, c0, thr), ref)
    print("erf thr", thr, degS, degL, "max ulp", e.max(), "at", xs[e.argmax()])
    print("  P", [float(v) for v in P]); print("  L", [float(v) for v in L], "c0", c0)

# tanh small: tanh(x) = x * T(x^2) on |x| < 0.625
for deg in (5,):
    sx = np.linspace(1e-4, 0.625, 3000); tg = np.array([float(mpmath.tanh(v)/v) for v in sx])
    T = lawson(sx**2, tg, deg, 1/tg)
    xs2 = np.linspace(0, 0.625, 20001).astype(np.float32)[1:]
    ref2 = np.array([float(mpmath.tanh(float(v))) for v in xs2])
    got = f32(xs2 * horner(T, f32(xs2 * xs2)))
    print("tanh deg", deg, "max ulp", ulperr(got, ref2).max(), [float(v) for v in T])
