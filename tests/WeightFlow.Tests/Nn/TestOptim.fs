module WeightFlow.Tests.TestOptim

open Expecto
open TorchSharp
open TorchSharp.Modules
open WeightFlow
open WeightFlow.Tests

/// Two identical parameter lists (a matrix, a vector, a scalar-sized tensor) from one seed.
let private twins (seed: int64) : Params.Named * Params.Named =
    let make () =
        use gen = Scope.Rng.create seed
        [ "w", Params.normal gen torch.CPU [ 5; 3 ] 1.0; "b", Params.normal gen torch.CPU [ 5 ] 1.0
          "s", Params.normal gen torch.CPU [ 1 ] 1.0 ]
    make (), make ()

/// Runs `steps` updates with the same fixed random gradients on both lists: ours through `ours`, the reference
/// through TorchSharp's optimizer.
let private compare (o: Optimizer) (reference: seq<Parameter> -> torch.optim.Optimizer) (steps: int) =
    let mine, theirs = twins 3L
    let opt = Optim.create o mine
    use ref = reference (Params.values theirs)
    use gen = Scope.Rng.create 4L
    for _ in 1 .. steps do
        for (_, a), (_, b) in List.zip mine theirs do
            use g = torch.randn(a.shape, generator = gen)
            a.grad <- g.clone()
            b.grad <- g.clone()
        Optim.step opt
        ref.step() |> ignore
    // Same float32 formulas, elementwise, in the same order; only the layout (one flat vector vs one tensor per
    // parameter) differs, which changes no elementwise result. Values are O(1): 1e-6 is ~10 float32 ulps.
    for (name, a), (_, b) in List.zip mine theirs do
        Expect.allClose 1e-6 a b $"parameter {name} after {steps} steps"
    Optim.dispose opt
    Params.dispose mine
    Params.dispose theirs

[<Tests>]
let tests =
    testList "Optim" [
        test "Adam over a model's parameters equals TorchSharp's Adam" {
            let c = { LearningRate = 0.01; Beta1 = 0.9; Beta2 = 0.999; Eps = 1e-8; WeightDecay = 0.0 }
            compare (Adam c) (fun ps -> torch.optim.Adam(ps, 0.01)) 7
        }

        test "Adam with weight decay equals TorchSharp's Adam(weight_decay)" {
            let c = { LearningRate = 0.003; Beta1 = 0.8; Beta2 = 0.99; Eps = 1e-6; WeightDecay = 0.01 }
            compare (Adam c) (fun ps -> torch.optim.Adam(ps, 0.003, 0.8, 0.99, 1e-6, 0.01)) 7
        }

        test "SGD with momentum and weight decay equals TorchSharp's SGD" {
            let c = { LearningRate = 0.1; Momentum = 0.9; WeightDecay = 1e-3 }
            compare (Sgd c) (fun ps -> torch.optim.SGD(ps, 0.1, 0.9, 0.0, 1e-3)) 7
        }

        test "zeroGrad clears every gradient" {
            let mine, other = twins 5L
            let opt = Optim.create (Optim.adam 1e-3) mine
            for _, p in mine do p.grad <- torch.ones_like p
            Optim.zeroGrad opt
            for name, p in mine do Expect.isTrue (isNull p.grad) $"{name} has no gradient"
            Optim.dispose opt
            Params.dispose mine
            Params.dispose other
        }

        test "the heap guard takes the third step's resident size as the working set and trims only 20% above it" {
            let g = Heap.guard ()
            // step:        1      2      3 (working set)  4      5 (= 1.2x)  6      7
            let resident = [ 100L; 110L; 120L;            130L;  144L;       145L;  150L ]
            let decisions = resident |> List.map (Heap.decide g)
            Expect.equal decisions [ false; false; false; false; false; true; true ] "trim strictly above 1.2 x 120"
            Expect.equal g.WorkingSet 120L "working set from step 3"
        }

        test "releasing the heap returns freed memory to the kernel" {
            let tuned = [ "MALLOC_MMAP_THRESHOLD_"; "MALLOC_TRIM_THRESHOLD_"; "GLIBC_TUNABLES" ] |> List.exists (System.Environment.GetEnvironmentVariable >> isNull >> not)
            // with the user's own malloc settings the blocks may be mapped one by one and returned at once
            if System.OperatingSystem.IsLinux() && not tuned then
                Engine.ensureLoaded ()
                // 24 x 16 MiB, each below the 32 MiB mmap threshold (Engine), so they come from the heap, are
                // touched (zeros) and, once freed, stay in the process until released
                let blocks = [ for _ in 1 .. 24 -> torch.zeros([| 4L * 1024L * 1024L |]) ]
                for b in blocks do b.Dispose()
                let before = Heap.resident ()
                Heap.release ()
                let after = Heap.resident ()
                // 384 MiB were freed; require at least 256 MiB back (the rest of the process may move a little)
                Expect.isLessThan after (before - 256L * 1024L * 1024L) $"resident {before >>> 20} MiB -> {after >>> 20} MiB"
        }
    ]
