module WeightFlow.Tests.TestRebasin

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// A square score matrix size for the assignment oracle (brute force over n! permutations).
type SmallSquare = SmallSquare of int

type private Arbs =
    static member SmallSquare() : Arbitrary<SmallSquare> = Gen.choose (1, 6) |> Gen.map SmallSquare |> Arb.fromGen

let private squareConfig = { config with arbitrary = typeof<Arbs> :: config.arbitrary }

let rec private permutationsOf (xs: int list) : int list list =
    match xs with
    | [] -> [ [] ]
    | _ -> [ for x in xs do for rest in permutationsOf (List.filter ((<>) x) xs) -> x :: rest ]

let private score (n: int) (c: float[]) (perm: int[]) = Seq.sum (seq { for k in 0 .. n - 1 -> c[k * n + perm[k]] })

let private batch = 4

let private sample (widths: int list) (seed: int) =
    let layout = Layout.create widths
    let g = Scope.Rng.create (int64 seed)
    let p = int64 (Layout.paramCount layout)
    let reference = torch.randn([| 1L; p |], generator = g, dtype = torch.float64)
    let theta = torch.randn([| int64 batch; p |], generator = g, dtype = torch.float64)
    let x = torch.randn([| 5L; int64 widths[0] |], generator = g, dtype = torch.float64)
    layout, g, reference, theta, x

[<Tests>]
let tests =
    testList "Rebasin" [
        testPropertyWithConfig squareConfig "the assignment solver finds the optimum (brute-force oracle, both solvers)"
            (fun (SmallSquare n) (seed: int) ->
                let rng = System.Random(seed)
                // Scores rounded to 1/8 so ties happen: the optimum's value must match even when the argmax is not unique.
                let c = Array.init (n * n) (fun _ -> float (rng.Next(-40, 40)) / 8.0)
                let best = permutationsOf [ 0 .. n - 1 ] |> List.map (fun p -> score n c (Array.ofList p)) |> List.max
                let jv = Assignment.maximize n c
                let ort = Oracles.maximizeOrTools n c
                Expect.equal (Array.sort jv) [| 0 .. n - 1 |] "a permutation"
                Expect.equal (Array.sort ort) [| 0 .. n - 1 |] "a permutation (OR-Tools)"
                // Sums of <= 6 multiples of 1/8 are exact in float64.
                Expect.equal (score n c jv) best "optimal score"
                Expect.equal (score n c ort) best "optimal score (OR-Tools)")

        test "a batch of assignments gives each problem's own solution whatever the intra-op thread count" {
            let rng = System.Random(11)
            let b, n = 7, 5
            let c = Array.init (b * n * n) (fun _ -> rng.NextDouble())
            let expected = [| for i in 0 .. b - 1 do yield! Assignment.maximize n c[i * n * n .. (i + 1) * n * n - 1] |> Array.map int64 |]
            use scores = torch.tensor(c, System.ReadOnlySpan<int64>([| int64 b; int64 n; int64 n |]), dtype = torch.float64)
            let before = torch.get_num_threads ()
            try
                // 1 thread: every problem on the caller (a flow on its own thread); 3: uneven ranges over 7 problems
                for threads in [ 1; 3 ] do
                    torch.set_num_threads threads
                    use perms = Assignment.solveBatch scores
                    Expect.equal (perms.data<int64>().ToArray()) expected $"{threads} intra-op threads"
            finally torch.set_num_threads before
        }

        testProp "weight matching recovers the original from a randomly permuted copy, exactly" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, reference, _, _ = sample widths seed
            let copies = reference.expand(int64 batch, -1L).contiguous()
            let scrambled = Symmetry.randomPermutation g torch.CPU layout batch
            let moved = Symmetry.permute layout scrambled copies
            let aligned = Rebasin.align (Rebasin.WeightMatching Rebasin.defaultWeightMatching) layout 3 (fun _ _ -> ()) reference moved
            Expect.bitExact aligned copies "aligned copies equal the reference")

        testProp "weight matching from the identity start also recovers a permuted copy of a one-hidden-layer network"
            (fun (seed: int) ->
                let layout, g, reference, _, _ = sample [ 4; 6; 3 ] seed
                let copies = reference.expand(int64 batch, -1L).contiguous()
                let moved = Symmetry.permute layout (Symmetry.randomPermutation g torch.CPU layout batch) copies
                let config = { Rebasin.defaultWeightMatching with Init = Rebasin.Identity }
                let perm = Rebasin.weightMatching config layout reference moved
                Expect.bitExact (Symmetry.permute layout perm moved) copies "aligned")

        testProp "alignment never changes a network's outputs (weight matching)" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, reference, theta, x = sample widths seed
            let aligned = Rebasin.align (Rebasin.WeightMatching Rebasin.defaultWeightMatching) layout 3 (fun _ _ -> ()) reference theta
            // A permutation only reorders float64 sums of <= 6 terms: ~1e-15 relative.
            Expect.allClose Tolerance.float64Law (Mlp.forward layout aligned x) (Mlp.forward layout theta x) "outputs")

        testProp "weight matching never increases the distance to the reference" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, reference, theta, _ = sample widths seed
            let aligned = Rebasin.align (Rebasin.WeightMatching Rebasin.defaultWeightMatching) layout 4 (fun _ _ -> ()) reference theta
            let d (t: torch.Tensor) = (t - reference).square().sum(1L)
            // The identity is one candidate; the sweeps only accept strict improvements of ⟨θ_ref, π(θ)⟩.
            Expect.isTrue ((d aligned).le(d theta + 1e-9).all().ToBoolean()) "‖θ_ref − π(θ)‖ ≤ ‖θ_ref − θ‖")

        testProp "alignment never changes a network's outputs (Sinkhorn, L2 and midpoint objectives)" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, reference, theta, x = sample widths seed
            let y = torch.zeros([| 5L |], dtype = torch.int64)
            for objective in [ Rebasin.L2; Rebasin.Midpoint (Rebasin.crossEntropyLoss layout x y 5 0L) ] do
                let config = { Rebasin.defaultSinkhorn objective with Steps = 3; Seed = int64 seed }
                let aligned = Rebasin.align (Rebasin.Sinkhorn config) layout 4 (fun _ _ -> ()) reference theta
                Expect.allClose Tolerance.float64Law (Mlp.forward layout aligned x) (Mlp.forward layout theta x) "outputs")

        test "Sinkhorn normalization is doubly stochastic" {
            use g = Scope.Rng.create 3L
            use x = torch.randn([| 2L; 5L; 5L |], generator = g, dtype = torch.float64)
            use s = Rebasin.sinkhorn 200 1.0 x
            // 200 rounds on a 5×5 matrix with entries e^±3 converge far below 1e-9 (linear rate).
            Expect.allClose 1e-9 (s.sum(1L)) (torch.ones([| 2L; 5L |], dtype = torch.float64)) "columns"
            Expect.allClose 1e-9 (s.sum(2L)) (torch.ones([| 2L; 5L |], dtype = torch.float64)) "rows"
        }

        test "softPermute with hard 0/1 matrices equals Symmetry.permute" {
            let layout = Layout.parse "3-4-5-2"
            use g = Scope.Rng.create 11L
            use theta = torch.randn([| 2L; int64 (Layout.paramCount layout) |], generator = g, dtype = torch.float64)
            let p = Symmetry.randomPermutation g torch.CPU layout 2
            let mats = p.Perms |> List.map (fun pi -> torch.eye(pi.shape[1], dtype = torch.float64).index_select(0L, pi.flatten()).view(pi.shape[0], pi.shape[1], pi.shape[1]))
            // Products with 0/1 matrices are exact.
            Expect.allClose Tolerance.exact (Rebasin.softPermute layout mats theta) (Symmetry.permute layout p theta) "hard soft-permute"
        }

        test "Sinkhorn L2 re-basin recovers a permuted copy" {
            let layout = Layout.parse "5-6-6-2"
            use g = Scope.Rng.create 5L
            use reference = torch.randn([| 1L; int64 (Layout.paramCount layout) |], generator = g)
            use copies = reference.expand(8L, -1L).contiguous()
            use moved = Symmetry.permute layout (Symmetry.randomPermutation g torch.CPU layout 8) copies
            let config = { Rebasin.defaultSinkhorn Rebasin.L2 with Steps = 200 }
            use aligned = Rebasin.align (Rebasin.Sinkhorn config) layout 8 (fun _ _ -> ()) reference moved
            Expect.bitExact aligned copies "aligned copies equal the reference"
        }
    ]
