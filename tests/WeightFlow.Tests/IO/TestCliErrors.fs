/// Issue 15, the CLI side of the bad-input table: the `weightflow` tool (built with the tests, see the project file)
/// run on bad files, data and options prints one line on stderr naming the problem, no stack trace, and exits with
/// the kind's code (2 option, 3 file or data).
module WeightFlow.Tests.TestCliErrors

open System
open System.Diagnostics
open System.IO
open Expecto
open WeightFlow
open WeightFlow.Tests

/// The built CLI beside this test build (same configuration).
let private cli () =
    let testDll = typeof<ReliabilityProbe.Marker>.Assembly.Location
    let framework = Path.GetDirectoryName testDll
    let config = Path.GetFileName(Path.GetDirectoryName framework)
    let root = Path.GetFullPath(Path.Combine(framework, "..", "..", "..", "..", ".."))
    let dll = Path.Combine(root, "src", "WeightFlow.Cli", "bin", config, Path.GetFileName framework, "weightflow.dll")
    if not (File.Exists dll) then failtest $"{dll} is missing; the test project builds the CLI (ProjectReference), build it with `dotnet build tests/WeightFlow.Tests`."
    dll

/// Runs `weightflow args`; returns exit code and stderr.
let private weightflow (args: string list) =
    let exe = Environment.ProcessPath
    let psi =
        if Path.GetFileNameWithoutExtension exe = "dotnet" then ProcessStartInfo(exe, List.toArray (cli () :: args))
        else ProcessStartInfo("dotnet", List.toArray (cli () :: args))
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    psi.Environment["WEIGHTFLOW_THREADS"] <- "1"
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    p.StandardOutput.ReadToEnd() |> ignore
    p.WaitForExit()
    p.ExitCode, err.Result

[<Tests>]
let tests =
    testList "CliErrors" [
        test "bad files, data and options: one line on stderr naming the problem, no stack trace, the kind's exit code" {
            TestValidation.withDir (fun dir ->
                let f = TestValidation.writeFiles dir
                let one = TestValidation.put dir "one.csv" "1.0,2.0,0\n"
                let gaps = TestValidation.put dir "gaps.csv" (String.Join("\n", [ for i in 0 .. 59 -> $"{i}.5,{i % 7},{[| 0; 1; 7 |][i % 3]}" ]))
                let out name = Path.Combine(dir, name)
                let rows =
                    [ [ "info"; f.Csv ], 3, "is not a zoo file"
                      [ "info"; out "missing.safetensors" ], 3, "File not found"
                      [ "zoo"; "--task"; "csv:" + one; "--out"; out "z1.safetensors" ], 3, "too small"
                      [ "zoo"; "--task"; "csv:" + gaps; "--out"; out "z2.safetensors" ], 3, "not 0..C-1"
                      [ "zoo"; "--task"; "imagenet"; "--out"; out "z3.safetensors" ], 2, "Unknown task"
                      [ "zoo"; "--task"; "uci"; "--runs"; "0"; "--out"; out "z4.safetensors" ], 2, "Runs must be >= 1"
                      [ "sample"; "--flow"; f.Zoo; "--out"; out "s1.safetensors" ], 3, "is not a flow file"
                      [ "sample"; "--flow"; f.Flow; "--count"; "0"; "--out"; out "s2.safetensors" ], 2, "--count"
                      [ "eval"; "--weights"; f.Flow; "--task"; "uci" ], 3, "is not networks" ]
                let results =
                    rows |> List.map (fun (args, code, fragment) -> async { return args, code, fragment, weightflow args })
                    |> fun jobs -> Async.Parallel(jobs, 2) |> Async.RunSynchronously
                for args, code, fragment, (exit, err) in results do
                    let what = String.Join(" ", args)
                    let lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    Expect.equal exit code $"exit code of `weightflow {what}` (stderr: {err})"
                    Expect.equal lines.Length 1 $"one line on stderr for `{what}`: {err}"
                    Expect.stringStarts lines[0] "error: " "an error line"
                    Expect.stringContains lines[0] fragment $"names the problem for `{what}`"
                    Expect.isFalse (err.Contains "   at ") "no stack trace")
        }
    ]
