/// Time grids for fixed-step integration (issue 11 item 7; anchors §6, pitfall P13).
[<RequireQualifiedAccess>]
module WeightFlow.TimeGrid

/// K steps on [0, 1]: the K + 1 grid points t_k = k / K, k = 0 .. K (so "K steps" is K steps, not the anchor's
/// n_steps grid points = n_steps - 1 steps, pitfall P13). Euler evaluates the field at t_0 .. t_{K-1} only, never at
/// t = 1; Heun's and RK4's last stages would reach t_K = 1, where an x1-prediction field divides by 1 - t, so the
/// sampler wraps them in `Transform.avoidOne`.
let uniform (k: int) : float[] =
    if k < 1 then invalidArg "k" $"A schedule needs at least one step; got {k} steps. Pass --steps 1 or more."
    [| for i in 0 .. k -> if i = k then 1.0 else float i / float k |]

/// The same grid run backwards, from t = 1 to t = 0 (likelihoods integrate from the data to the prior, §3.4).
let reversed (k: int) : float[] = Array.rev (uniform k)

/// Checks a grid: at least two points, strictly monotone, inside [0, 1].
let check (grid: float[]) =
    if grid.Length < 2 then
        invalidArg "grid" $"A time grid needs at least two points (one step); got {grid.Length}."
    let inc = grid[1] > grid[0]
    for i in 0 .. grid.Length - 2 do
        if (grid[i + 1] > grid[i]) <> inc || grid[i + 1] = grid[i] then
            invalidArg "grid" $"A time grid must be strictly monotone; points {i} and {i + 1} are {grid[i]} and {grid[i + 1]}."
    if grid |> Array.exists (fun t -> t < 0.0 || t > 1.0 || System.Double.IsNaN t) then
        invalidArg "grid" $"Grid times must lie in [0, 1]; got %A{grid}."
