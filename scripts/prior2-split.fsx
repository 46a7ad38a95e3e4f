// Post hoc (docs/mnist/prior2.md, "where N''s held-out gain lies", stated before this ran): each pair's loss of (b')
// P''s Gaussian-linear line and of N' (the RT from P', read back from OUT) split into its part in the span of P''s
// standardized factor rows and its part in the complement, on prior2-run.fsx's training and held-out pairs (the same
// seeds), with the per-part differences (b') − N'.
//
//   OUT=results/heldout REPS=5 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/prior2-split.fsx
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/heldout"
let reps = int (env "REPS" "5")
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
let c = (ReproduceMnist.config Full 0L outDir).Job
let zoo, _, zr = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, ar = MainJob.alignZoo c zoo ignore
if not (zr && ar) then failwith "run scripts/heldout-train.fsx first"
let flowP = Flow.load torch.CPU (Path.Combine(outDir, "flow-euclidean-(aligned,-leave-runs-out-residual-prior).safetensors"))
let h = Holdout.lastRuns c.HeldOutRuns aligned
let q =
    match flowP.Prior.Centre with
    | Fitted { Std = s; Covariance = Some cov } ->
        Scope.noGrad (fun () ->
            let struct (qq, _) = torch.linalg.qr((cov.Factor / s.unsqueeze(0L)).t().to_type(torch.float64))
            qq.to_type(torch.float32).DetachFromDisposeScope())
    | _ -> failwith "N''s prior has no covariance factor"
let p = float q.shape[0]
let gain (t: Tensor) = (t / ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0))).unsqueeze(1L)
let toZ = fst (Prior.standardize flowP.Prior (Flow.layout flowP)).Value
let predictors : (string * (Tensor -> Tensor -> Tensor -> Tensor)) list =
    [ "(b')", (fun t _ zt -> gain t * zt); "N'", (fun t xt _ -> toZ (Flow.predict flowP t xt)) ]
let buckets = 5
let split = Collections.Generic.Dictionary<string * string, (float * float)[][]>()
for setName, targets in [ "training", h.Train; "held-out", h.HeldOut ] do
    let acc = predictors |> List.map (fun (n, _) -> n, Array.init buckets (fun _ -> ResizeArray<float * float>())) |> dict
    for r in 1 .. reps do
        let pairs = LossByTime.standardizedPairs flowP targets buckets 64 (int64 r)
        for k, b in Array.indexed pairs do
            for name, predict in predictors do
                Scope.noGrad (fun () ->
                    Scope.value (fun () ->
                        let e = predict b.T b.Xt b.Zt - b.Z1
                        let total = (e.pow(scalar 2.0).sum(1L) / p).to_type(torch.float64).data<float>().ToArray()
                        let inside = (e.matmul(q).pow(scalar 2.0).sum(1L) / p).to_type(torch.float64).data<float>().ToArray()
                        (acc[name]).[k].AddRange(Array.zip total inside)))
    for name, _ in predictors do split[(setName, name)] <- acc[name] |> Array.map (fun l -> l.ToArray())
let mean (a: float[]) = Array.average a
let se (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1) / float a.Length)
let part s n k (f: float * float -> float) = (split[(s, n)]).[k] |> Array.map f
let inside, outside = snd, (fun (a, b) -> a - b)
printfn "| set | bucket | (b') in span + outside | N' in span + outside | (b') − N' in span (SE) | (b') − N' outside (SE) | share in span |"
printfn "| --- | --- | --- | --- | --- | --- | --- |"
let rows =
    [ for s in [ "training"; "held-out" ] do
        for k in 0 .. buckets - 1 ->
            let dIn = Array.map2 (-) (part s "(b')" k inside) (part s "N'" k inside)
            let dOut = Array.map2 (-) (part s "(b')" k outside) (part s "N'" k outside)
            let share = mean dIn / (mean dIn + mean dOut)
            printfn "| %s | %d | %s + %s | %s + %s | %s (%s) | %s (%s) | %.3f |" s k (f4 (mean (part s "(b')" k inside))) (f4 (mean (part s "(b')" k outside)))
                (f4 (mean (part s "N'" k inside))) (f4 (mean (part s "N'" k outside))) (f4 (mean dIn)) (f4 (se dIn)) (f4 (mean dOut)) (f4 (se dOut)) share
            String.concat "," [ s; string k; inv (mean (part s "(b')" k inside)); inv (mean (part s "(b')" k outside)); inv (mean (part s "N'" k inside)); inv (mean (part s "N'" k outside))
                                inv (mean dIn); inv (se dIn); inv (mean dOut); inv (se dOut); inv share ] ]
Report.writeText (Path.Combine(outDir, "prior2-split.csv"))
    (String.concat "\n" ("set,bucket,b_in,b_out,n_in,n_out,b_minus_n_in,se_in,b_minus_n_out,se_out,share_in_span" :: rows))
