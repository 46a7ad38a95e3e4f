/// Named tolerances, each with the reason for its size.
module WeightFlow.Tests.Tolerance

/// float32 results of a few dozen accumulated products: eps32 ≈ 1.19e-7 times ~100 terms, with margin.
let float32Sum = 1e-5

/// float64 identities of closed-form maps (a handful of trig calls): eps64 ≈ 2.2e-16 amplified by ~1e4 at worst.
let float64Law = 1e-9

/// Bit-exact comparisons (round trips that only move data).
let exact = 0.0
