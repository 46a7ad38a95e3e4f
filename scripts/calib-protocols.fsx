// Which temperature-calibration protocol should the evaluation use? (issue 12; docs/reproduce/uci-full/calibration-protocols.md)
// On UCI the per-network temperature T is fitted on 57 validation rows; samples that miss ~2 of them get T 2.2-2.8
// where the test split prefers 0.74-1.13 (diagnosis-normalized.md). This script measures, for the finished main-job
// folders given (their saved samples and zoos; nothing is trained or sampled), the calibrated test CE of every table
// row under five ways of fitting T:
//   (a) per network, on the validation split (today's protocol, `Metrics.compute`);
//   (b) per network, on the training + validation splits;
//   (c) one T per row (pooled over all the row's networks: their logits stacked as one population), on validation;
//   (d) one T per row, pooled, on training + validation;
//   oracle: per network, on the test split itself (the CE of the logits' shape at its best scale; unattainable).
// Rows: every flow of the job and every baseline of each space (zoo mean, fitted Gaussian, held-out checkpoints),
// drawn exactly as `Evaluation.baselines` draws them (generator seeded with seed + 1, same order). The job's own
// evaluation.json is printed beside them: it is (a) for jobs evaluated before issue 12's decision adopted (b), and
// (b) after; the larger agreement is printed at the end (it must be exact up to float32 rounding).
//
// PRE-STATED CRITERION (written before any result was looked at):
//   crit(p) = mean over every row (each flow and each baseline, every space, every folder given) of
//             |mean calibrated test CE under p − mean oracle CE|.
//   The candidate with the smallest crit among (b)-(d) is chosen. It is adopted only if
//     (1) crit(chosen) < crit(a), and
//     (2) fav(chosen) <= crit(a) − crit(chosen), where fav(p) = mean over flow rows of
//         [(CE_a(flow) − CE_a(fitted Gaussian)) − (CE_p(flow) − CE_p(fitted Gaussian))], the fitted Gaussian (τ 1) of
//         the flow's own space and folder: how much p moves the flows-vs-Gaussian gap in the flows' favour.
//   Both are reported for every candidate. If the chosen candidate fails (1) or (2), (a) stays.
// The decision data are NOT the judged rows of `reproduce uci --preset full` (seed 0): UCI main jobs at seeds 1 and
// 2 and a CSV task.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/calib-protocols.fsx DIR=TASK=SEED [DIR=TASK=SEED ...] > LOG
//   (TASK: uci or csv:PATH; SEED: the job's --seed; DIR: its --out folder, read only; the quick preset's flows)
#load "_load.fsx"
open System
open System.IO
open TorchSharp
open WeightFlow

let specs =
    fsi.CommandLineArgs |> Array.skip 1 |> Array.map (fun s ->
        match s.Split('=') with
        | [| dir; task; seed |] -> dir, Task.parse task, int64 seed
        | _ -> failwith $"Expected DIR=TASK=SEED, got '{s}'.")
let _noGrad = torch.no_grad ()
let cal = Calibration.defaultConfig

/// Mean test CE of networks whose temperatures are t [B].
let ceAt (t: Tensor) (zTest: Tensor) (yTest: Tensor) =
    (Mlp.crossEntropyOfLogits (Predictive.scale t zTest) yTest).to_type(torch.float64).mean().ToDouble()

/// Per-network T fitted on logits [B, N, C] with labels [N].
let perNetwork (z: Tensor) (y: Tensor) = (Calibration.fit cal z y).Temperature

/// One T for the whole row: its B networks' logits [B, N, C] as one population of B·N predictions, [B] (repeated).
let pooled (z: Tensor) (y: Tensor) =
    let b, n, c = z.shape[0], z.shape[1], z.shape[2]
    let t = (Calibration.fit cal (z.reshape(1L, b * n, c)) (y.repeat(b))).Temperature
    t.expand(b).contiguous()

let protocols = [ "a"; "b"; "c"; "d" ]

/// (folder, space, row, isFlow, CE per protocol incl. "oracle" and "eval.json")
let results = Collections.Generic.List<string * string * string * bool * Map<string, float>>()

for dir, task, seed in specs do
    let c = MainJobConfig.forTask task Quick seed dir
    let data = Sources.load c.Task c.Zoo.Seed
    let aligned = Zoo.load (MainJob.alignedPath c)
    let canonical = Zoo.load (MainJob.canonicalPath c)
    let evalJson = MainJob.tablesOfJson (File.ReadAllText(MainJob.evaluationPath c))
    let trainValid : Split = { X = torch.cat([| data.Train.X; data.Valid.X |], 0L); Y = torch.cat([| data.Train.Y; data.Valid.Y |], 0L) }
    printfn "== %s (%s, seed %d): %d training, %d validation, %d test rows" dir (Task.name task) seed
        data.Train.Y.shape[0] data.Valid.Y.shape[0] data.Test.Y.shape[0]
    let samples (f: FlowRun) = let _, theta, _ = Sampling.load (MainJob.samplesPath c f) in theta
    let spaces =
        [ "raw", aligned, id, c.Flows |> List.filter (fun f -> f.Training.Flow = Euclidean)
          "canonical", canonical, Canonical.canonicalize Canonical.defaultConfig aligned.Layout,
          c.Flows |> List.filter (fun f -> f.Training.Flow <> Euclidean) ]
    for space, zoo, project, flows in spaces do
        let _, h, pool = Evaluation.ofHoldout c.Evaluation id data zoo (Holdout.lastRuns c.HeldOutRuns zoo)
        let g = Scope.Rng.create (c.Seed + 1L)
        let rows =
            [ for f in flows do yield f.Name, true, samples f
              yield "zoo mean", false, Baselines.mean project h.Train
              yield "fitted Gaussian", false, Baselines.gaussian project g c.Sampling.Count h.Train
              yield "held-out", false, Baselines.heldOut g c.Sampling.Count pool ]
        let table = evalJson |> List.find (fun t -> t.Space = space)
        for name, isFlow, theta in rows do
            Scope.value (fun () ->
                let l = zoo.Layout
                let zv = Predictive.logits l data.Valid.X theta
                let ztv = Predictive.logits l trainValid.X theta
                let zt = Predictive.logits l data.Test.X theta
                let ts =
                    [ "a", perNetwork zv data.Valid.Y; "b", perNetwork ztv trainValid.Y
                      "c", pooled zv data.Valid.Y; "d", pooled ztv trainValid.Y; "oracle", perNetwork zt data.Test.Y ]
                let median (t: Tensor) = t.median().ToDouble()
                let ces =
                    [ for p, t in ts -> p, ceAt t zt data.Test.Y ]
                    @ [ "raw", (Mlp.crossEntropyOfLogits zt data.Test.Y).to_type(torch.float64).mean().ToDouble()
                        "eval.json", (table.Flows @ table.Baselines |> List.find (fun r -> r.Name = name)).CalibratedCrossEntropy ]
                    |> Map.ofList
                results.Add((dir, space, name, isFlow, ces))
                printfn "%-14s %-10s %-22s a %.4f (eval.json %.4f) b %.4f c %.4f d %.4f oracle %.4f raw %.4f | median T %s"
                    (Path.GetFileName dir) space name ces["a"] ces["eval.json"] ces["b"] ces["c"] ces["d"] ces["oracle"] ces["raw"]
                    (ts |> List.map (fun (p, t) -> $"{p} %.2f{median t}") |> String.concat " "))
        g.Dispose()

// The criterion over every row of every folder, and the flows-vs-Gaussian gap shift.
let rows = List.ofSeq results
let crit p = rows |> List.averageBy (fun (_, _, _, _, m) -> abs (m[p] - m["oracle"]))
let gaussian (dir, space) = rows |> List.pick (fun (d, s, n, _, m) -> if d = dir && s = space && n = "fitted Gaussian" then Some m else None)
let gap p = [ for d, s, _, isFlow, m in rows do if isFlow then yield m[p] - (gaussian (d, s))[p] ]
let fav p = List.map2 (fun ga gp -> ga - gp) (gap "a") (gap p) |> List.average
printfn "\n%d rows (%d flows). Criterion: mean |CE_p − CE_oracle|; fav: mean shift of (flow − fitted Gaussian) in the flows' favour vs (a)"
    rows.Length (rows |> List.filter (fun (_, _, _, f, _) -> f) |> List.length)
for p in [ "a"; "b" ] do
    printfn "max |%s − eval.json| = %.2e" p (rows |> List.map (fun (_, _, _, _, m) -> abs (m[p] - m["eval.json"])) |> List.max)
for p in protocols do
    let flowsBelow = gap p |> List.filter (fun x -> x < 0.0) |> List.length
    printfn "protocol %s: crit %.5f  narrows by %+.5f  fav %+.5f  flows below their Gaussian %d of %d" p (crit p) (crit "a" - crit p) (fav p) flowsBelow (gap p).Length
let chosen = [ "b"; "c"; "d" ] |> List.minBy crit
let ok1 = crit chosen < crit "a"
let ok2 = fav chosen <= crit "a" - crit chosen
printfn "chosen %s: (1) beats (a) %b, (2) fav %.5f <= narrowing %.5f %b -> %s" chosen ok1 (fav chosen) (crit "a" - crit chosen) ok2
    (if ok1 && ok2 then $"ADOPT ({chosen})" else "KEEP (a)")
