// What the RT's neuron-row term (RelationalTransformer.NeuronRows = SharedLowRank r, NeuronRowLinear.fs) can reach
// linearly at rank r, per t bucket, on the standardized MNIST zoo (issue 13; docs/mnist/rowlin.md): the "shared"
// line of scripts/mnist-denoiser-bounds.fsx restricted to a map that is optimal on the top r eigendirections of the
// pooled neuron-row second moment C_pool (eigenvalues λ_1 ≥ … ≥ λ_795) and ONE scalar shrinkage a(t) on the rest
// (what the RT alone was measured to do: the diagonal line, one scalar in standardized coordinates). Per row, with
// z_t = t z1 + (1 − t) z0: top directions lose λ(1 − t)² / (t²λ + (1 − t)²); the complement (m directions, Λ = Σλ)
// loses Λ(1 − a t)² + m a²(1 − t)² at its optimum a = tΛ / (t²Λ + m(1 − t)²). Output biases: per-coordinate, as there.
//
//   ZOO=results/rowlin/zoo-mnist-aligned.safetensors [HOLD=5] [SUB=2] [RANKS=0,8,16,32,64,128,795] WEIGHTFLOW_THREADS=1 dotnet fsi scripts/rowlin-rank-bound.fsx
#load "_load.fsx"
open _load
open System
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let zoo = Zoo.load (env "ZOO" "results/rowlin/zoo-mnist-aligned.safetensors")
let split = Holdout.lastRuns (int (env "HOLD" "5")) zoo
let layout = zoo.Layout
if Layout.depth layout <> 2 then failwith "this script handles one hidden layer (784-10-10)"
let sc (x: float) = Scalar.op_Implicit x
let sub = int (env "SUB" "2")
// the standardized targets (all training checkpoints for μ, s), every SUB-th for the second moment (as the bounds script)
let z =
    Scope.noGrad (fun () ->
        let x = split.Train.to_type(torch.float64)
        let mu = x.mean([| 0L |], true)
        let sd = x.std(0L, false, true).clamp_min(sc 1e-6)
        let zAll = (x - mu) / sd
        zAll.index_select(0L, torch.arange(0L, zAll.shape[0], int64 sub)).DetachFromDisposeScope())
let p = int z.shape[1]
let d0, h, c = layout.Widths[0], layout.Widths[1], layout.Widths[2]
let v = Scope.noGrad (fun () -> (z * z).mean([| 0L |]).data<float>().ToArray())
let lPool =
    Scope.noGrad (fun () ->
        let w1 = z.narrow(1L, 0L, int64 (d0 * h)).view(-1L, int64 d0, int64 h).permute(0L, 2L, 1L)
        let w2 = z.narrow(1L, int64 (d0 * h), int64 (h * c)).view(-1L, int64 h, int64 c)
        let b1 = z.narrow(1L, int64 (Layout.biasOffset layout 0), int64 h).unsqueeze(2L)
        let rows = torch.cat([| w1; b1; w2 |], 2L).reshape(-1L, int64 (d0 + 1 + c))
        let cpool = rows.t().matmul(rows) / float rows.shape[0]
        torch.linalg.eigvalsh(cpool).clamp_min(sc 0.0).data<float>().ToArray() |> Array.sortDescending)
let buckets = 5
let tGrid k = [| for j in 0 .. 39 -> (float k + (float j + 0.5) / 40.0) / float buckets |]
let optimal (l: float) t = let a = (1.0 - t) ** 2.0 in l * a / (t * t * l + a)
let rowLoss (r: int) t =
    let top = lPool[.. r - 1] |> Array.sumBy (fun l -> optimal l t)
    let rest = lPool[r ..]
    let m, lam = float rest.Length, Array.sum rest
    let restLoss =
        if rest.Length = 0 then 0.0
        else
            let a = t * lam / (t * t * lam + m * (1.0 - t) ** 2.0)
            lam * (1.0 - a * t) ** 2.0 + m * a * a * (1.0 - t) ** 2.0
    top + restLoss
let biasLoss t = v[p - c ..] |> Array.sumBy (fun l -> optimal l t)
printfn "# %d rows of %d training targets (SUB %d); top pooled eigenvalues %s; load %s" (int z.shape[0] * h) (split.Train.shape[0]) sub
    (lPool |> Array.take 8 |> Array.map (fun x -> x.ToString("0.0")) |> String.concat " ") (IO.File.ReadAllText "/proc/loadavg").[0..13]
printfn "rank\t[0,.2)\t[.2,.4)\t[.4,.6)\t[.6,.8)\t[.8,1]"
for r in (env "RANKS" "0,8,16,32,64,128,795").Split(',') |> Array.map int do
    let losses = Array.init buckets (fun k -> tGrid k |> Array.averageBy (fun t -> (float h * rowLoss r t + biasLoss t) / float p))
    printfn "%d\t%s" r (losses |> Array.map (fun x -> x.ToString("0.000")) |> String.concat "\t")
