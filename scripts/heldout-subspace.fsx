// Post hoc (docs/mnist/heldout.md, "where M's advantage comes from", hypothesis committed before this ran): each
// pair's loss of (b) the Gaussian-linear predictor, N (the RT) and M (the MLP) split into its part in the span of the
// standardized prior factor's 512 rows and its part in the complement, on heldout-run.fsx's training and held-out
// pairs; and (e), c(t) inside the span and identity in the complement, with paired SEs against (b).
//
//   OUT=results/heldout REPS=5 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/heldout-subspace.fsx
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
let flowN, _, _, nr = MainJob.trainFlow c zoo aligned c.Flows.Head ignore CancellationToken.None
if not (zr && ar && nr) then failwith "run scripts/heldout-train.fsx first"
let flowM = Flow.load torch.CPU (Path.Combine(outDir, "flow-euclidean-mlp-(aligned,-full-covariance-prior).safetensors"))
let h = Holdout.lastRuns c.HeldOutRuns aligned
let q =
    match flowN.Prior.Centre with
    | Fitted { Std = s; Covariance = Some cov } ->
        Scope.noGrad (fun () ->
            let struct (qq, _) = torch.linalg.qr((cov.Factor / s.unsqueeze(0L)).t().to_type(torch.float64))
            qq.to_type(torch.float32).DetachFromDisposeScope())
    | _ -> failwith "N's prior has no covariance factor"
let p = float q.shape[0]
printfn "span: %d directions of %.0f" q.shape[1] p
let gain (t: Tensor) = (t / ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0))).unsqueeze(1L)
let toZ (f: Flow) = fst (Prior.standardize f.Prior (Flow.layout f)).Value
let predictors : (string * (Tensor -> Tensor -> Tensor -> Tensor)) list =
    [ "(b) Gaussian-linear", (fun t _ zt -> gain t * zt)
      "(d) N, RT", (fun t xt _ -> toZ flowN (Flow.predict flowN t xt))
      "M, MLP", (fun t xt _ -> toZ flowM (Flow.predict flowM t xt))
      "(e) c(t) in the span, identity outside", (fun t _ zt -> let inside = zt.matmul(q).matmul(q.t()) in gain t * inside + (zt - inside)) ]
let buckets = 5
let zHeld = toZ flowN h.HeldOut
let runOfPair (z1: Tensor) = Scope.noGrad (fun () -> torch.cdist(z1, zHeld).argmin(1L).data<int64>().ToArray() |> Array.map (fun i -> aligned.Run[h.HeldOutIndex[int i]]))
let heldRuns = Array.init buckets (fun _ -> ResizeArray<int>())
// split[(set, predictor)][bucket] = (total, inside) per pair
let split = Collections.Generic.Dictionary<string * string, (float * float)[][]>()
for setName, targets in [ "training", h.Train; "held-out", h.HeldOut ] do
    let acc = predictors |> List.map (fun (n, _) -> n, Array.init buckets (fun _ -> ResizeArray<float * float>())) |> dict
    for r in 1 .. reps do
        let pairs = LossByTime.standardizedPairs flowN targets buckets 64 (int64 r)
        for k, b in Array.indexed pairs do
            if setName = "held-out" then heldRuns[k].AddRange(runOfPair b.Z1)
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
let part (s: string) (n: string) k (f: float * float -> float) = (split[(s, n)]).[k] |> Array.map f
let total, inside, outside = fst, snd, (fun (a, b) -> a - b)
printfn "\n| set | predictor | %s |" (String.concat " | " [ "[0,.2)"; "[.2,.4)"; "[.4,.6)"; "[.6,.8)"; "[.8,1]" ])
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for s in [ "training"; "held-out" ] do
    for n, _ in predictors do
        let cell k =
            let tot, ins, out = mean (part s n k total), mean (part s n k inside), mean (part s n k outside)
            let vsB =
                if n = "(b) Gaussian-linear" then ""
                else let d = Array.map2 (-) (part s n k total) (part s "(b) Gaussian-linear" k total) in $"; {mean d / se d:F1} SE vs (b)"
            $"{f4 tot} = {f4 ins} + {f4 out}{vsB}"
        printfn "| %s | %s | %s |" s n (String.concat " | " [ for k in 0 .. buckets - 1 -> cell k ])
// the pre-stated test of H, buckets [.2,.4) and [.4,.6)
for k in [ 1; 2 ] do
    let b = "(b) Gaussian-linear"
    let excessIn = mean (part "held-out" b k inside) - mean (part "training" b k inside)
    let excessOut = mean (part "held-out" b k outside) - mean (part "training" b k outside)
    let advIn = mean (part "held-out" b k inside) - mean (part "held-out" "M, MLP" k inside)
    let advOut = mean (part "held-out" b k outside) - mean (part "held-out" "M, MLP" k outside)
    printfn "bucket %d: (b)'s held-out excess %s in the span, %s outside (outside share %.3f); (b) − M on held-out %s in the span, %s outside (outside share %.3f)"
        k (f4 excessIn) (f4 excessOut) (excessOut / (excessIn + excessOut)) (f4 advIn) (f4 advOut) (advOut / (advIn + advOut))
// descriptive: the held-out pairs come from 5 runs; (X − (b)) per held-out run, so one run cannot carry the result
printfn "\n| bucket | predictor | %s |" (String.concat " | " [ for r in h.HeldOutRuns -> $"run {r}" ])
printfn "| --- | --- |%s" (String.replicate h.HeldOutRuns.Length " --- |")
for k in 0 .. buckets - 1 do
    for n, _ in predictors |> List.tail do
        let d = Array.map2 (-) (part "held-out" n k total) (part "held-out" "(b) Gaussian-linear" k total)
        let runs = heldRuns[k].ToArray()
        let cells = [ for r in h.HeldOutRuns -> let dr = Array.zip runs d |> Array.filter (fun (x, _) -> x = r) |> Array.map snd in $"{f4 (mean dr)} ({dr.Length})" ]
        printfn "| %d | %s | %s |" k n (String.concat " | " cells)
let csv = Path.Combine(outDir, "heldout-subspace.csv")
Report.writeText csv
    (String.concat "\n"
        ("set,predictor,bucket,pairs,loss,in_span,outside_span,minus_b,paired_se_vs_b"
         :: [ for s in [ "training"; "held-out" ] do
                for n, _ in predictors do
                    for k in 0 .. buckets - 1 ->
                        let d = Array.map2 (-) (part s n k total) (part s "(b) Gaussian-linear" k total)
                        String.concat "," [ s; $"\"{n}\""; string k; string d.Length; inv (mean (part s n k total)); inv (mean (part s n k inside)); inv (mean (part s n k outside))
                                            inv (mean d); (if n = "(b) Gaussian-linear" then "" else inv (se d)) ] ]))
printfn "wrote %s" csv
