/// Runs a solver step over a time grid (STYLE §8.5-8.6): under no_grad (guidance re-enables grad inside its own
/// transformer), with one dispose scope per step, so memory stays flat over any number of steps.
[<RequireQualifiedAccess>]
module WeightFlow.Integrate

open TorchSharp

/// Integrates from grid[0] to grid[last] starting at x0 [B, P] and returns the final state (a fresh tensor; x0 is
/// not disposed). `observe k t x` is called with k = 0 .. K for every state on the grid (x0 first): x is valid only
/// during the call, since the step's scope disposes it later; to keep it, copy it out, e.g.
/// `x.clone().DetachFromDisposeScope()`. Every temporary of step k, including the previous state, is disposed when
/// step k + 1 ends.
let observed (observe: int -> float -> Tensor -> unit) (step: Step) (field: VectorField) (grid: float[]) (x0: Tensor) : Tensor =
    TimeGrid.check grid
    use _ = torch.no_grad ()
    observe 0 grid[0] x0
    Scope.iterate (grid.Length - 1) (fun k x ->
        let next = step field grid[k] (grid[k + 1] - grid[k]) x
        observe (k + 1) grid[k + 1] next
        next) x0

/// Integrates from grid[0] to grid[last] starting at x0 and returns the final state.
let run (step: Step) (field: VectorField) (grid: float[]) (x0: Tensor) : Tensor =
    observed (fun _ _ _ -> ()) step field grid x0
