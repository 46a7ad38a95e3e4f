// The UCI main job with a sampling temperature per flow (`FlowRun.SamplingTemperature`; `weightflow run
// --temperature` sets one τ for every flow): runs `MainJobConfig.uci SEED OUT` with the given flows' τ and prints the
// same JSON as `weightflow run --json` (flows and tables), so scripts/uci-seeds-table.py reads it. The flows of an
// earlier run in OUT are reused (only the flows whose τ changed are resampled; the evaluation reruns).
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/uci-flow-temperatures.fsx SEED OUT "Normalized=1.2,Geometric=1.2" > tau.json
// A flow not named keeps the job's default (MainJobConfig.uci).
#load "_load.fsx"
open System
open System.Globalization
open System.Text.Json
open System.Threading
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length <> 3 then failwith "usage: uci-flow-temperatures.fsx SEED OUT \"Flow=tau,Flow=tau\""
let seed, out = int64 args[0], args[1]
let taus =
    args[2].Split(',', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun kv -> let p = kv.Split('=') in p[0].Trim(), Double.Parse(p[1], CultureInfo.InvariantCulture))
    |> Map.ofArray
let preset = MainJobConfig.uci seed out
for name in taus.Keys do
    if not (preset.Flows |> List.exists (fun f -> f.Name = name)) then
        failwith $"""No flow named '{name}'; the flows are {preset.Flows |> List.map (fun f -> f.Name) |> String.concat ", "}."""
let c = { preset with Flows = preset.Flows |> List.map (fun f -> match taus.TryFind f.Name with Some t -> { f with SamplingTemperature = Some t } | None -> f) }
let sw = Diagnostics.Stopwatch.StartNew()
let r = MainJob.run c ignore CancellationToken.None
let o =
    dict [ "wall_seconds", box sw.Elapsed.TotalSeconds
           "flows", box [| for f in r.Flows ->
                            dict [ "name", box f.Name; "training_seconds", box (Option.toNullable f.TrainingSeconds)
                                   "sampling_seconds", box (Option.toNullable f.SamplingSeconds); "temperature", box f.Temperature ] |]
           "tables", box [| for t in r.Tables -> dict [ "space", box t.Space; "flows", box t.Flows; "baselines", box t.Baselines ] |] ]
Console.Out.WriteLine(JsonSerializer.Serialize(o, JsonSerializerOptions(WriteIndented = true)))
r.Zoo.Theta.Dispose()
r.Aligned.Theta.Dispose()
