/// Independent implementations the library is checked against (STYLE §8.10). Google OR-Tools is a test dependency
/// only: the library's own Jonker–Volgenant solver is the default and was measured faster (README, Libraries), and a
/// user of the library should not download OR-Tools' natives.
module WeightFlow.Tests.Oracles

open System

/// The linear assignment maximizing Σ_k c[k·n + π(k)], solved by OR-Tools' LinearSumAssignment. It needs integer
/// costs: the scores are scaled to ±2⁴⁰ and rounded, far finer than the scores' spacing in the tests.
let maximizeOrTools (n: int) (c: float[]) : int[] =
    if c.Length <> n * n then invalidArg "c" $"A {n}×{n} score matrix needs {n * n} entries but has {c.Length}."
    let big = c |> Array.fold (fun m x -> max m (abs x)) 0.0
    let scale = if big > 0.0 then 1099511627776.0 / big else 1.0
    use lsa = new Google.OrTools.Graph.LinearSumAssignment()
    for i in 0 .. n - 1 do
        for j in 0 .. n - 1 do
            lsa.AddArcWithCost(i, j, int64 (Math.Round(-c[i * n + j] * scale))) |> ignore
    let status = lsa.Solve()
    if status <> Google.OrTools.Graph.LinearSumAssignment.Status.OPTIMAL then
        invalidOp $"OR-Tools' linear assignment returned {status} for a {n}×{n} matrix."
    Array.init n (fun i -> lsa.RightMate(i))
