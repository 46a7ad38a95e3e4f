/// scripts/_load.fsx as a host: F# Interactive (a child `dotnet fsi` process) gets the CLI's thread override and no
/// background GC (docs/results/fsi-results.md: scripts that ignored WEIGHTFLOW_THREADS ran 6.4-6.5x the CLI's CPU per
/// step; background GC made the heap guard trim on a quarter of the steps).
module WeightFlow.Tests.TestScriptHost

open System
open System.Diagnostics
open System.IO
open Expecto

/// The repository root above this test build (tests/WeightFlow.Tests/bin/CONFIG/TFM).
let private root () =
    Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."))

/// Runs a probe script that loads scripts/_load.fsx, with WEIGHTFLOW_THREADS set to `threads`; exit code, stdout, stderr.
let private probe (threads: string) =
    let root = root ()
    // _load.fsx reads the Release build of the CLI (the test project builds the CLI in its own configuration)
    let cli = Path.Combine(root, "src", "WeightFlow.Cli", "bin", "Release", "net10.0", "WeightFlow.Core.dll")
    if not (File.Exists cli) then skiptest $"{cli} is missing: scripts/_load.fsx loads the Release build (dotnet build src/WeightFlow.Cli -c Release)."
    let dir = Directory.CreateTempSubdirectory "wf-script-host"
    try
        let script = Path.Combine(dir.FullName, "probe.fsx")
        let load = Path.Combine(root, "scripts", "_load.fsx").Replace("\\", "/")
        File.WriteAllText(script, $"#load \"{load}\"\nprintfn \"threads %%d latency %%A\" (TorchSharp.torch.get_num_threads ()) System.Runtime.GCSettings.LatencyMode\n")
        let exe = Environment.ProcessPath
        let dotnet = if Path.GetFileNameWithoutExtension exe = "dotnet" then exe else "dotnet"
        let psi = ProcessStartInfo(dotnet, [| "fsi"; script |])
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        psi.UseShellExecute <- false
        psi.Environment["WEIGHTFLOW_THREADS"] <- threads
        use p = Process.Start psi
        let err = p.StandardError.ReadToEndAsync()
        let out = p.StandardOutput.ReadToEnd()
        p.WaitForExit()
        p.ExitCode, out.Trim(), err.Result
    finally
        dir.Delete true

[<Tests>]
let tests =
    testList "Script host (_load.fsx)" [
        test "WEIGHTFLOW_THREADS sets the script's intra-op threads and background GC is off" {
            // 1 thread is not libtorch's default on a machine with more cores; on a 1-core machine the batch mode
            // still distinguishes the loaded settings from F# Interactive's own (Interactive)
            let code, out, err = probe "1"
            Expect.equal code 0 $"the probe ran: {err}"
            Expect.equal out "threads 1 latency Batch" "the CLI's thread override, no background GC"
        }
        test "a WEIGHTFLOW_THREADS that is not a whole number >= 1 is a clear error" {
            let code, _, err = probe "0"
            Expect.notEqual code 0 "the script stops"
            Expect.stringContains err "WEIGHTFLOW_THREADS must be a whole number >= 1" "names the variable and what it takes"
        }
    ]
