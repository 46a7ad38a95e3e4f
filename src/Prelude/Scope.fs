/// Dispose scopes at iteration boundaries, written once (STYLE §8.6), and explicit random generators.
[<RequireQualifiedAccess>]
module WeightFlow.Scope

open TorchSharp

/// Opens a dispose scope for the rest of a loop body (`use _ = Scope.enter ()`), for loops whose body updates mutable
/// state and so cannot be a closure for `run`, `value` or `iterate`. Every tensor made until it is disposed is freed
/// then, unless moved out.
let enter () : System.IDisposable = torch.NewDisposeScope() :> System.IDisposable

/// Computes `f ()` in its own dispose scope and moves the resulting tensor out of it.
let run (f: unit -> torch.Tensor) : torch.Tensor =
    use scope = torch.NewDisposeScope()
    let r = f ()
    r.MoveToOuterDisposeScope()

/// Computes `f ()` in its own dispose scope for a value that holds no tensors (numbers, arrays).
let value (f: unit -> 'a) : 'a =
    use scope = torch.NewDisposeScope()
    f ()

/// Iterates `step` n times over one tensor state; each iteration runs in its own scope, and the previous state is
/// disposed unless it is the caller's input, so memory stays flat over long loops.
let iterate (n: int) (step: int -> torch.Tensor -> torch.Tensor) (x0: torch.Tensor) : torch.Tensor =
    let mutable x = x0
    for i in 0 .. n - 1 do
        let next =
            use scope = torch.NewDisposeScope()
            (step i x).MoveToOuterDisposeScope()
        if not (obj.ReferenceEquals(x, x0)) then x.Dispose()
        x <- next
    x

/// Runs `f` with gradients disabled.
let noGrad (f: unit -> 'a) : 'a =
    use _ = torch.no_grad ()
    f ()

/// Random generators are explicit values made from a seed; nothing calls `torch.manual_seed`.
[<RequireQualifiedAccess>]
module Rng =
    /// A CPU generator seeded deterministically.
    let create (seed: int64) : torch.Generator = new torch.Generator(uint64 seed, torch.CPU)

    /// Derives a child seed from a parent seed and a stream id (SplitMix64), so independent streams do not overlap.
    let derive (seed: int64) (stream: int64) : int64 =
        let mutable z = uint64 seed + 0x9E3779B97F4A7C15UL * (uint64 stream + 1UL)
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        int64 ((z ^^^ (z >>> 31)) >>> 1)
