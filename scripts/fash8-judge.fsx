// The test-half judgement of docs/mnist/fash8.md: loads samples saved by fash8-guide.fsx (OUT/<tag>.pt, [B, 7,960])
// and evaluates them ONCE on Fashion-MNIST's test half (and MNIST's test split): accuracy mean (sd) [min, max], CE mean
// (sd); and for each pair guided/control (same prior draws, in order) the paired accuracy difference and its SE.
//
//   WEIGHTFLOW_THREADS=1 OUT=results/fash8 ROWS=tag1,tag2,... PAIRS=guided/control,... dotnet fsi scripts/fash8-judge.fsx
#load "_load.fsx"
open _load
open System
open System.IO
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/fash8"
let layout = Layout.parse (env "LAYOUT" "784-10-10")
let fashion = Sources.load Task.FashionMnist 0L
let mnist = Sources.load Task.Mnist 0L
let load (tag: string) = torch.Tensor.load(Path.Combine(outDir, tag + ".pt"))
let split (list: string) = list.Split(',', StringSplitOptions.RemoveEmptyEntries)

let perSample (data: Split) (theta: Tensor) =
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let logits = Predictive.logits layout data.X theta
        (Mlp.accuracyOfLogits logits data.Y).to_type(torch.float64).data<float>().ToArray(),
        (Mlp.crossEntropyOfLogits logits data.Y).to_type(torch.float64).data<float>().ToArray())

let mean (a: float[]) = Array.average a
let sd (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1))

printfn "| row | n | Fashion TEST acc mean (sd) [min, max] | test CE mean (sd) | MNIST test acc mean (sd) | MNIST CE mean |"
printfn "| --- | --- | --- | --- | --- | --- |"
for tag in split (env "ROWS" "") do
    use theta = load tag
    let acc, ce = perSample fashion.Test theta
    let macc, mce = perSample mnist.Test theta
    printfn "| %s | %d | %.4f (%.4f) [%.4f, %.4f] | %.3f (%.3f) | %.4f (%.4f) | %.3f |" tag acc.Length (mean acc) (sd acc) (Array.min acc) (Array.max acc) (mean ce) (sd ce) (mean macc) (sd macc) (mean mce)
    printfn "per-sample test %s: %s" tag (String.Join(" ", acc |> Array.map (sprintf "%.4f")))

for pair in split (env "PAIRS" "") do
    match pair.Split '/' with
    | [| a; b |] ->
        use ta = load a
        use tb = load b
        let accA, _ = perSample fashion.Test ta
        let accB, _ = perSample fashion.Test tb
        let d = Array.map2 (-) accA accB
        let se = sd d / sqrt (float d.Length)
        printfn "paired test %s − %s: %.4f (SE %.4f, %.1f SE)" a b (mean d) se (if se > 0.0 then mean d / se else nan)
    | _ -> failwith $"pair {pair}? (guided/control)"
