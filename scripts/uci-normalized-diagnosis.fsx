// Why the Normalized rows of `reproduce uci --preset full` miss the calibrated-CE bar while the Geometric rows with the
// same prior, iterations and τ pass (docs/reproduce/uci-full/diagnosis-normalized.md). For each canonical flow file of
// a reproduction folder it re-samples 256 networks exactly as the preset does (SamplingConfig.defaults 256, τ 0.8,
// seed 0, 100 Euler steps, batches of 64; optionally more steps), evaluates them with the evaluation's own
// `Metrics.compute` (temperature calibrated on the validation split), and prints the per-sample CE distribution (mean,
// median, quantiles, the worst samples with their accuracy, raw CE, temperature and whether the fit hit its bound,
// the mean without the worst 1/3/5), and how far the samples lie from the canonical set (hidden neurons' incoming
// norms, last-layer norm: canonicalize(x) should be x), and the same networks' CE with T fitted on the test split
// (an oracle separating the logits' shape from the validation-to-test transfer of T) beside their validation accuracy.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/uci-normalized-diagnosis.fsx DIR STEPS[,STEPS..] FLOWSLUG[,FLOWSLUG..]
//   (FLOWSLUG: normalized, normalized-(aligned-+-ot), geometric, ...: flow-FLOWSLUG.safetensors in DIR; read only)
#load "_load.fsx"
open System
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
let dir = args[0]
let stepsList = args[1].Split(',') |> Array.map int
let slugs = args[2].Split(',')
let data = Sources.load Task.Uci 0L
let _noGrad = torch.no_grad ()
let floats (t: Tensor) = t.to_type(torch.float64).data<float>().ToArray()
let quantile (q: float) (xs: float[]) = let s = Array.sort xs in s[min (s.Length - 1) (int (q * float (s.Length - 1) + 0.5))]

// Largest deviation from the canonical set: hidden neurons' incoming norms (should be 1, (C.1)-(C.2)), last-layer norm
// (should be 1, (C.3)), and ‖x − canonicalize(x)‖ / ‖x‖ per network.
let offSet (space: FlowSpace) (x: Tensor) =
    let l = space.Layout
    let hidden =
        [ for i in 0 .. Layout.depth l - 2 -> (Layout.weightT l i x).norm(1) ] // [B, out]
    let hn = torch.cat(hidden |> List.map (fun h -> h.flatten()) |> Array.ofList, 0L)
    let last = (Layout.weightT l (Layout.depth l - 1) x).flatten(1L).norm(1)
    let rel = (x - FlowSpace.project space x).norm(1) / x.norm(1)
    hn.min().ToDouble(), hn.max().ToDouble(), last.min().ToDouble(), last.max().ToDouble(), rel.max().ToDouble()

for slug in slugs do
    let flow = Flow.load torch.CPU (IO.Path.Combine(dir, $"flow-{slug}.safetensors"))
    let space = Flow.space flow
    let l = Flow.layout flow
    for steps in stepsList do
        let cfg = { SamplingConfig.defaults 256 with Steps = steps; Seed = 0L; Temperature = 0.8 }
        let r = Sampling.sample cfg ignore torch.CPU flow
        let m = Metrics.compute Calibration.defaultConfig l data.Valid data.Test r.Theta
        // the same networks with the temperature fitted on the test split itself (an oracle: the CE of the logits'
        // shape at its best scale, with no validation-to-test transfer of T)
        let oracle = Metrics.compute Calibration.defaultConfig l data.Test data.Test r.Theta
        let orc = floats oracle.CalibratedCrossEntropy
        // the validation split (57 rows) the temperature is fitted on: its accuracy, and the logit scale r_b (Cal.1)
        let vacc = floats (Mlp.accuracy l r.Theta data.Valid.X data.Valid.Y)
        let zt = Predictive.logits l data.Test.X r.Theta
        let rms = floats ((zt - zt.mean([| 2L |], keepdim = true)).square().mean([| 1L; 2L |]).sqrt())
        printfn "   validation accuracy mean %.4f min %.4f, %d of %d perfect; test logit scale r_b median %.3f"
            (Array.average vacc) (Array.min vacc) (vacc |> Array.filter (fun a -> a >= 1.0) |> Array.length) vacc.Length (quantile 0.5 rms)
        printfn "   T fitted on validation: median %.3f; oracle (T fitted on test): CE mean %.4f median %.4f, T median %.3f"
            (quantile 0.5 (floats m.Temperatures.Temperature)) (Array.average orc) (quantile 0.5 orc) (quantile 0.5 (floats oracle.Temperatures.Temperature))
        let acc, raw, cal = floats m.Accuracy, floats m.CrossEntropy, floats m.CalibratedCrossEntropy
        let temp = floats m.Temperatures.Temperature
        let atBound = m.Temperatures.AtBound.data<bool>().ToArray()
        let n = cal.Length
        let order = Array.init n id |> Array.sortByDescending (fun i -> cal[i])
        let without k = (Array.sum cal - (order |> Array.take k |> Array.sumBy (fun i -> cal[i]))) / float (n - k)
        let hmin, hmax, lmin, lmax, rel = offSet space r.Theta
        printfn "== %s, %d steps (%d samples, %d non-finite, %.1f s): acc mean %.4f min %.4f; CE raw mean %.4f median %.4f; calibrated mean %.4f median %.4f q90 %.4f q99 %.4f max %.4f; at bound %d; mean without worst 1/3/5: %.4f %.4f %.4f"
            slug steps n r.NonFinite.Length r.Seconds (Array.average acc) (Array.min acc) (Array.average raw) (quantile 0.5 raw)
            (Array.average cal) (quantile 0.5 cal) (quantile 0.9 cal) (quantile 0.99 cal) (Array.max cal)
            (atBound |> Array.filter id |> Array.length) (without 1) (without 3) (without 5)
        printfn "   share of the mean from the worst 5: %.1f%%; calibrated > raw in %d of %d samples; calibrated mean of the at-bound samples %.4f, of the others %.4f"
            (100.0 * (order |> Array.take 5 |> Array.sumBy (fun i -> cal[i])) / Array.sum cal)
            (Array.init n id |> Array.filter (fun i -> cal[i] > raw[i]) |> Array.length) n
            (let a = [| for i in 0 .. n - 1 do if atBound[i] then yield cal[i] |] in if a.Length = 0 then nan else Array.average a)
            (let a = [| for i in 0 .. n - 1 do if not atBound[i] then yield cal[i] |] in Array.average a)
        for i in order |> Array.take 5 do
            printfn "   worst #%3d: calibrated %.4f raw %.4f acc %.4f T %.3f at bound %b" i cal[i] raw[i] acc[i] temp[i] atBound[i]
        printfn "   off the canonical set: hidden incoming norms [%.5f, %.5f], last-layer norm [%.5f, %.5f], max ‖x − canon(x)‖/‖x‖ %.2e"
            hmin hmax lmin lmax rel
