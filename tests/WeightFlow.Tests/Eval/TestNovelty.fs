module WeightFlow.Tests.Eval.TestNovelty

open System.Threading
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// A small aligned UCI zoo (24 runs x 12 epochs of 30-16-16-2, checkpoints from epoch 2, every 4th iteration: 20 per
/// run), trained once for the module (~1 s), with the last 25% of its runs held out.
let private fixture =
    lazy (
        let data = Sources.load Task.Uci 0L
        let config = { ZooConfig.uci with Runs = 24; Epochs = 12; DropEpochs = 2 }
        let zoo = Zoo.train config Task.Uci data ignore CancellationToken.None
        let reference = zoo.Theta.narrow(0L, 0L, 1L)
        let aligned = Novelty.realign Rebasin.defaultWeightMatching zoo.Layout reference zoo.Theta
        let zoo = Zoo.withTheta zoo aligned
        data, zoo, Holdout.split 0.25 zoo)

[<Tests>]
let tests =
    testList "Novelty" [
        test "copies of training checkpoints have ratio ~0, held-out checkpoints ~1, permuted copies count as copies" {
            let _, zoo, h = fixture.Force()
            let judge, pool = Holdout.halves zoo h
            let r = Novelty.reference Rebasin.defaultWeightMatching zoo.Layout (zoo.Theta.narrow(0L, 0L, 1L)) h.Train judge
            use g = Scope.Rng.create 1L
            let copies = h.Train.index_select(0L, torch.randperm(h.Train.shape[0], generator = g).narrow(0L, 0L, 32L))
            let permuted = Symmetry.permute zoo.Layout (Symmetry.randomPermutation g torch.CPU zoo.Layout 32) copies
            let copyRatio = (Novelty.measure r copies).Ratio
            let permutedRatio = (Novelty.measure r permuted).Ratio
            let unaligned = (Novelty.nearestDistance r.Training permuted).median().ToDouble() / r.HeldOutMedian
            let heldOutRatio = (Novelty.measure r pool).Ratio
            // A copy re-aligns onto its original when weight matching returns one representative per permutation orbit;
            // what is left is float32 rounding: ratios of ~4e-8 over 8 zoo seeds (measured), 1e-3 is far from both.
            Expect.isLessThan copyRatio 1e-3 "copies"
            Expect.isLessThan permutedRatio 1e-3 "permuted copies, re-aligned"
            Expect.isGreaterThan unaligned 0.5 "permuted copies without re-alignment look new"
            // Judge and pool are 3 held-out runs each, so the ratio compares medians over different runs: 0.979-1.014
            // over 8 zoo seeds (measured). [0.85, 1.15] keeps a 4x margin on that spread.
            Expect.isTrue (heldOutRatio > 0.85 && heldOutRatio < 1.15) $"held-out checkpoints ratio {heldOutRatio} in [0.85, 1.15]"
        }

        test "re-alignment in chunks of networks is bit for bit the one-batch re-alignment; an aligned batch comes back uncopied" {
            // two hidden layers, so the sweeps' random layer order matters and networks converge after different sweeps
            let layout = Layout.parse "6-5-4-3"
            let p = int64 (Layout.paramCount layout)
            use g = Scope.Rng.create 7L
            let reference = torch.randn([| 1L; p |], generator = g)
            let theta = torch.randn([| 37L; p |], generator = g)
            let config = Rebasin.defaultWeightMatching
            // the unchunked reference: weight matching of the whole batch, then one gather
            let oneBatch (t: torch.Tensor) = use _ = torch.no_grad () in Symmetry.permute layout (Rebasin.weightMatching config layout reference t) t
            let expected = oneBatch theta
            Expect.isFalse (T.equal expected theta) "the random batch is not aligned already"
            for rows in [ 1; 8; 36; 37; 100 ] do
                Expect.bitExact (Novelty.realignChunked rows config layout reference theta) expected $"chunks of {rows}"
            Expect.bitExact (Novelty.realign config layout reference theta) expected "realign (chunks of realignRows)"
            // a first chunk of copies of the reference (their matching is the identity), then random networks
            let mixed = torch.cat([| reference.expand(8L, -1L); theta.narrow(0L, 0L, 13L) |], 0L)
            Expect.bitExact (Novelty.realignChunked 8 config layout reference mixed) (oneBatch mixed) "identity chunk beside others"
            // every permutation the identity: the input itself comes back (an alias: a change to it shows in the result)
            let copies = reference.expand(9L, -1L).contiguous()
            let same = Novelty.realignChunked 4 config layout reference copies
            Expect.bitExact same (oneBatch copies) "copies of the reference"
            copies.add_(scalar 1.0) |> ignore
            Expect.bitExact same copies "no copy was made"
            Expect.throwsT<System.ArgumentException> (fun () -> Novelty.realignChunked 0 config layout reference theta |> ignore) "chunks of 0 refused"
        }

        test "the held-out runs are whole, last, disjoint from training, and split in two halves" {
            let _, zoo, h = fixture.Force()
            Expect.equal h.HeldOutRuns [| 18 .. 23 |] "last 25% of 24 runs"
            Expect.isTrue (h.TrainIndex |> Array.forall (fun i -> zoo.Run[i] < 18)) "training runs"
            Expect.equal (h.TrainIndex.Length + h.HeldOutIndex.Length) (Zoo.count zoo) "every checkpoint once"
            let judge, pool = Holdout.halves zoo h
            Expect.equal (judge.shape[0] + pool.shape[0]) (int64 h.HeldOutIndex.Length) "halves cover the held-out set"
            Expect.equal judge.shape[0] pool.shape[0] "3 runs each"
            Expect.equal h.TrainRuns [| 0 .. 17 |] "training run ids"
            let k6 = Holdout.lastRuns 6 zoo
            Expect.equal k6.HeldOutIndex h.HeldOutIndex "lastRuns 6 = split 0.25 on 24 runs"
            Expect.isTrue (k6.Train.equal(h.Train).all().ToBoolean()) "same training rows"
            let none = Holdout.lastRuns 0 zoo
            Expect.equal (none.HeldOut.shape[0], none.Train.shape[0]) (0L, int64 (Zoo.count zoo)) "k = 0 holds out nothing"
            Expect.throws (fun () -> Holdout.lastRuns 24 zoo |> ignore) "holding out every run is refused"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
