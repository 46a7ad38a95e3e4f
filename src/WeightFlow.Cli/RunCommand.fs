/// `weightflow run`: the main job on the embedded UCI data set, end to end as far as the library goes today:
/// train the thesis' zoo as one batch, align it to one reference by weight matching, and measure loss barriers
/// before and after (thesis §7.2, Fig. 7.2). Writes the zoos, two PNG figures and prints the tables.
module WeightFlow.Cli.RunCommand

open System.IO
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

/// Barrier pairs, as in the thesis' Fig. 7.2 (250 weights).
[<Literal>]
let private Pairs = 250

let run (args: ParseResults<RunArgs>) : int =
    let seed = int64 (args.GetResult(RunArgs.Seed, 0))
    let json = args.Contains RunArgs.Json
    let outDir = args.GetResult(RunArgs.Out, Path.Combine("results", "run"))
    Directory.CreateDirectory outDir |> ignore
    let data = Sources.load Task.Uci seed
    let zooPath = Path.Combine(outDir, "zoo-uci.safetensors")
    let zoo, elapsed = ZooCommands.trainWithProgress json zooPath { ZooConfig.uci with Seed = seed } Task.Uci data
    Zoo.save zooPath zoo
    let trajectoryPng = Path.Combine(outDir, "zoo-uci.png")
    ZooCommands.plotZoo trajectoryPng zoo

    let method = Rebasin.WeightMatching Rebasin.defaultWeightMatching
    let aligned, alignSeconds = AlignCommands.alignZoo json method zoo
    let alignedZoo = Zoo.withTheta zoo aligned
    let alignedPath = Path.Combine(outDir, "zoo-uci-aligned.safetensors")
    Zoo.save alignedPath alignedZoo

    let before = AlignCommands.zooBarriers zoo Pairs 3 (int seed)
    let after = AlignCommands.zooBarriers alignedZoo Pairs 3 (int seed)
    let stats (t: torch.Tensor) = t.mean().ToDouble(), t.std().ToDouble()
    let midB, midA = stats before.Midpoint, stats after.Midpoint
    let relB, relA = stats before.Relative, stats after.Relative
    let barrierPng = Path.Combine(outDir, "barriers-uci.png")
    Plots.histogram barrierPng $"UCI: midpoint loss barriers of {Pairs} random checkpoint pairs" "relative barrier L(½) − (L(0)+L(1))/2"
        [ "unaligned", T.toArray64 before.Relative; "aligned (weight matching)", T.toArray64 after.Relative ] 30
    let s = ZooSummary.ofZoo zoo
    if json then
        Render.json (
            ZooCommands.summaryJson zoo (Some elapsed)
                [ "align_seconds", box alignSeconds
                  "barrier_midpoint_unaligned", box (fst midB); "barrier_midpoint_aligned", box (fst midA)
                  "barrier_relative_unaligned", box (fst relB); "barrier_relative_aligned", box (fst relA)
                  "zoo", box zooPath; "aligned_zoo", box alignedPath; "plots", box [| trajectoryPng; barrierPng |] ])
    else
        Render.table "UCI breast cancer zoo (thesis §7.2 settings)" [ "what"; "value" ]
            (ZooCommands.summaryRows zoo (Some elapsed) @ [ [ "zoo file"; zooPath ]; [ "plot"; trajectoryPng ] ])
        Render.table $"Re-basin (weight matching to checkpoint 0, {alignSeconds:F1} s) and loss barriers, {Pairs} random pairs"
            [ "training-split cross-entropy"; "unaligned"; "aligned"; "thesis Fig. 7.2 (unaligned → aligned)" ]
            [ [ "midpoint loss L(½)"; Render.pm (fst midB) (snd midB); Render.pm (fst midA) (snd midA); "0.244 ± 0.009 → 0.070 ± 0.001" ]
              [ "relative barrier"; Render.pm (fst relB) (snd relB); Render.pm (fst relA) (snd relA); "" ]
              [ "reduction"; ""; $"%.1f{fst relB / fst relA}x (relative), %.1f{fst midB / fst midA}x (midpoint)"; "3.5x (midpoint)" ] ]
        Render.table "Against the thesis (Table 7.1, target row)" [ "what"; "this run"; "thesis" ]
            [ [ "zoo test accuracy, final checkpoints"; Render.pm s.FinalAccuracyMean s.FinalAccuracyStd; "0.992 ± 0.010 (Adam)" ]
              [ "figures"; $"{trajectoryPng}, {barrierPng}"; "" ] ]
    0
