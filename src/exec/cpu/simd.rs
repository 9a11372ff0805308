//! Vector code without intrinsics: the kernels' inner loops are plain Rust that LLVM
//! vectorizes, and [`vectorized`] compiles them a second and third time for AVX-512 and AVX2,
//! picked at run time. A release build targets baseline x86-64 (SSE2, 4 lanes), and these
//! CPUs have 8 or 16; the binary stays portable.
//!
//! Also the transcendental functions the activations need, written so they vectorize:
//! `f32::exp` calls libm one element at a time.

/// Runs `body` compiled for the widest vector extension this CPU has. Target features apply
/// to the code compiled inside the dispatching functions, so `body` must be inlined there:
/// mark the closure `#[inline(always)]`. Unmarked, LLVM inlined only small closures (each has
/// three call sites), and larger ones were compiled once, for SSE2: batch norm, most
/// activation rules and the depthwise taps ran without AVX-512 until they were marked
/// (MobileNetV2's forward pass went from 22 to 16 ms at batch 1).
#[inline(always)]
pub fn vectorized<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { avx512(body) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { avx2(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// `Σ a·b` over the common length, for use inside [`vectorized`] code: sixteen f32 running
/// sums (one AVX-512 register, two AVX2 ones), added together in f64 at the end. A single
/// running sum would be a chain of dependent adds, one element at a time.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    (acc.iter().map(|&v| v as f64).sum::<f64>() + tail as f64) as f32
}

/// `e^x` to within 2 ulp for `x` in [-87, 88], branch-free so that it vectorizes; outside
/// that range it returns `e^-87` or `e^88` (the activations below only use it in ratios that
/// are then 0 or 1 to f32 precision). NaN stays NaN.
///
/// Range reduction `x = k ln 2 + r`, |r| ≤ ln 2 / 2, with ln 2 split in two so `k ln 2` is
/// exact; `e^r` by the Cephes `expf` minimax polynomial; `2^k` built in the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without SSE4.1's `round`.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    // `t`'s low mantissa bits hold k = round(x log2 e) as a two's-complement integer.
    let t = x * LOG2E + ROUND;
    let k = t - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    // Cephes' 5.0000001201e-1 rounds to exactly 0.5 in f32.
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // k ∈ [-126, 127]: 2^k is a normal number, its biased exponent k + 127 built by integer
    // arithmetic on the bits (a float-to-int cast would not vectorize). A NaN `x` gives NaN
    // through `r`.
    let k_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    let two_k = f32::from_bits(k_bits.wrapping_add(127) << 23);
    e_r * two_k
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}
