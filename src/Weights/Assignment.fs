/// Linear assignment: the permutation π maximizing Σ_k C[k, π(k)] for a square score matrix C (weight matching,
/// Ainsworth et al. 2023, eq. (A.1) below; the Sinkhorn re-basin's final projection, Peña et al. 2023).
///
/// The problem is inherently one matrix at a time; `solveBatch` solves B of them, in parallel over CPU cores.
[<RequireQualifiedAccess>]
module WeightFlow.Assignment

open System
open TorchSharp

/// Maximizes Σ_k c[k·n + π(k)] over permutations π of 0..n-1 for a row-major n×n score matrix; returns π.
/// Shortest augmenting paths with potentials (Kuhn–Munkres in the Jonker–Volgenant form, O(n³)); exact for any
/// finite float scores.
let maximize (n: int) (c: float[]) : int[] =
    if c.Length <> n * n then invalidArg "c" $"A {n}×{n} score matrix needs {n * n} entries but has {c.Length}."
    // Minimize cost = -score. 1-based arrays as in the classical formulation; column 0 is the virtual start.
    let inf = Double.PositiveInfinity
    let u = Array.zeroCreate<float> (n + 1)
    let v = Array.zeroCreate<float> (n + 1)
    let p = Array.zeroCreate<int> (n + 1) // p[j]: row matched to column j
    let way = Array.zeroCreate<int> (n + 1)
    let minv = Array.zeroCreate<float> (n + 1)
    let used = Array.zeroCreate<bool> (n + 1)
    for i in 1 .. n do
        p[0] <- i
        let mutable j0 = 0
        Array.Fill(minv, inf)
        Array.Fill(used, false)
        let mutable searching = true
        while searching do
            used[j0] <- true
            let i0 = p[j0]
            let mutable delta = inf
            let mutable j1 = 0
            let row = (i0 - 1) * n
            for j in 1 .. n do
                if not used[j] then
                    let cur = -c[row + j - 1] - u[i0] - v[j]
                    if cur < minv[j] then
                        minv[j] <- cur
                        way[j] <- j0
                    if minv[j] < delta then
                        delta <- minv[j]
                        j1 <- j
            for j in 0 .. n do
                if used[j] then
                    u[p[j]] <- u[p[j]] + delta
                    v[j] <- v[j] - delta
                else minv[j] <- minv[j] - delta
            j0 <- j1
            if p[j0] = 0 then searching <- false
        let mutable j0' = j0
        while j0' <> 0 do
            let j1 = way[j0']
            p[j0'] <- p[j1]
            j0' <- j1
    let perm = Array.zeroCreate<int> n
    for j in 1 .. n do perm[p[j] - 1] <- j - 1
    perm

/// Solves B assignment problems with a per-matrix solver `solve n c` (`maximize`, or another exact solver such as the
/// tests' OR-Tools oracle): scores [B, n, n] (any float dtype/device) -> [B, n] int64 on the scores' device, row b
/// holding the maximizing π_b (new index k takes old index π_b(k)).
let solveBatchWith (solve: int -> float[] -> int[]) (scores: Tensor) : Tensor =
    if scores.dim() <> 3L || scores.shape[1] <> scores.shape[2] then
        invalidArg "scores" $"Assignment scores must be square matrices [B, n, n]; got %A{scores.shape}."
    let b, n = int scores.shape[0], int scores.shape[1]
    let flat = T.toArray64 scores
    Check.arg "scores" (flat |> Array.forall Double.IsFinite) "Assignment scores contain NaN or infinity; check the weights for divergence."
    let out = Array.zeroCreate<int64> (b * n)
    // One contiguous range of problems per intra-op thread (as EdgeAttentionKernel's batch split): a flow trained on
    // one thread (MainJobConfig.FlowThreads) keeps its solver work on that thread, beside flows trained in parallel,
    // and its thread CPU time (CpuTime) stays its whole cost.
    let chunks = max 1 (min b (torch.get_num_threads ()))
    let run c =
        for i in b * c / chunks .. b * (c + 1) / chunks - 1 do
            let perm = solve n flat[i * n * n .. (i + 1) * n * n - 1]
            for k in 0 .. n - 1 do out[i * n + k] <- int64 perm[k]
    if chunks = 1 then run 0 else Threading.Tasks.Parallel.For(0, chunks, run) |> ignore
    torch.tensor(out, ReadOnlySpan<int64>([| int64 b; int64 n |]), device = scores.device)

/// `solveBatchWith maximize`: B assignment problems with the Jonker–Volgenant solver.
let solveBatch (scores: Tensor) : Tensor = solveBatchWith maximize scores
