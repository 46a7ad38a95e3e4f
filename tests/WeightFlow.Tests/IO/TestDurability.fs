/// Issue 15, no data loss: child processes killed with SIGKILL at random moments during flow and zoo training resume
/// to the result of an uninterrupted run, leaving no unreadable file; a write beyond a file-size limit fails with a
/// clear error and leaves the previous file intact; two runs on one output are refused by a lock.
/// `WEIGHTFLOW_KILLS=N` sets the kills per training (default 20, issue 15's bar for flow training; the zoo test uses the same count, the main-job test at most 2).
module WeightFlow.Tests.TestDurability

open System
open System.Diagnostics
open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private kills =
    match Int32.TryParse(Environment.GetEnvironmentVariable "WEIGHTFLOW_KILLS") with
    | true, n when n >= 1 -> n
    | _ -> 20

/// This test program as a probe child, optionally behind a shell prefix (e.g. a file-size limit).
let private start (shell: string option) (args: string list) =
    let exe = Environment.ProcessPath
    let own = if Path.GetFileNameWithoutExtension exe = "dotnet" then [ exe; typeof<ReliabilityProbe.Marker>.Assembly.Location ] else [ exe ]
    let command = own @ [ "--reliability-probe" ] @ args
    let psi =
        match shell with
        | Some prefix -> ProcessStartInfo("bash", List.toArray ([ "-c"; prefix + "; exec \"$0\" \"$@\"" ] @ command))
        | None -> ProcessStartInfo(List.head command, List.toArray (List.tail command))
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    psi.Environment["WEIGHTFLOW_THREADS"] <- "1"
    // the runtime's W^X double mapping sizes a file beyond a small file-size limit; without it the limit only
    // applies to the files the probe writes
    psi.Environment["DOTNET_EnableWriteXorExecute"] <- "0"
    Process.Start psi

let private withDir (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"wf-durable-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally Directory.Delete(dir, true)

/// Runs the probe to completion (no kill); fails on a non-zero exit.
let private complete (args: string list) =
    use p = start None args
    let err = p.StandardError.ReadToEndAsync()
    p.StandardOutput.ReadToEnd() |> ignore
    p.WaitForExit()
    Expect.equal p.ExitCode 0 $"probe {args}: {err.Result}"

/// Runs the probe, killing it (SIGKILL) `kills` times at a random moment (after it reports a random progress count
/// in the first two thirds of `total`, plus a random 0-10 ms), restarting it each time, until a run completes; after every kill `check`
/// inspects what was left. Returns the kills made.
let private killAndResume (seed: int) (total: int) (args: string list) (check: unit -> unit) =
    let kills = if List.head args = "job" then min kills 2 else kills
    let r = Random seed
    let mutable killed = 0
    let mutable finished = false
    while not finished do
        use p = start None args
        let err = p.StandardError.ReadToEndAsync()
        if killed < kills then
            // progress lines ("step k", "epoch k"): wait until the run passes a random point of the training
            // (the job counts its progress from 1 in every run and reuses finished stages, so it is killed in the
            // first half of a fresh run's progress)
            // (a third of the run stays ahead of the kill, so even a fast machine cannot finish first; from "step 2" /
            // "epoch 1" on, the first checkpoint or state is on disk: it is saved before the next progress line)
            let target = if List.head args = "job" then r.Next(1, max 2 (total / 2)) else r.Next(2, max 3 (2 * total / 3))
            let mutable first = p.StandardOutput.ReadLine()
            while not (isNull first) && int (first.Split(' ')[1]) < target do first <- p.StandardOutput.ReadLine()
            let rest = p.StandardOutput.ReadToEndAsync()
            Thread.Sleep(r.Next(0, 10))
            if not p.HasExited then
                p.Kill()
                p.WaitForExit()
                killed <- killed + 1
                check ()
            else
                p.WaitForExit()
                rest.Wait()
                Expect.equal p.ExitCode 0 $"probe {args} (first line {first}): {err.Result}"
                finished <- true
        else
            p.StandardOutput.ReadToEnd() |> ignore
            p.WaitForExit()
            Expect.equal p.ExitCode 0 $"probe {args}: {err.Result}"
            finished <- true
    killed

let private leftovers (dir: string) =
    Directory.GetFiles dir |> Array.filter (fun f -> f.EndsWith ".tmp" || f.EndsWith ".lock") |> Array.map Path.GetFileName

[<Tests>]
let tests =
    testList "Durability" [
        test "flow training killed with SIGKILL at random moments resumes to the uninterrupted run's losses, bit for bit" {
            withDir (fun dir ->
                let reference = Path.Combine(dir, "reference.txt")
                complete [ "flow"; Path.Combine(dir, "reference.checkpoint"); reference ]
                let checkpoint = Path.Combine(dir, "run.checkpoint")
                let out = Path.Combine(dir, "run.txt")
                let mutable states = 0
                let made =
                    killAndResume 1 ReliabilityProbe.flowConfig.Iterations [ "flow"; checkpoint; out ] (fun () ->
                        // the checkpoint after a kill is the old or the new one, never a broken one
                        if File.Exists checkpoint then
                            let s = Storage.read checkpoint
                            for _, t in s.Tensors do t.Dispose()
                            states <- states + 1)
                Expect.equal made kills "killed as often as asked, each time while training"
                Expect.equal states made "a readable checkpoint after every kill"
                printfn $"flow kill test: {made} kills, {states} checkpoints read back after a kill"
                let losses = File.ReadAllText out
                Expect.equal (losses.Split('\n').Length) ReliabilityProbe.flowConfig.Iterations "every step's loss"
                Expect.equal losses (File.ReadAllText reference) "the losses of the uninterrupted run, exactly"
                Expect.isEmpty (leftovers dir) "no temporary or lock file left")
        }
        test "zoo training killed with SIGKILL at random moments resumes to the uninterrupted run's zoo, bit for bit" {
            withDir (fun dir ->
                let reference = Path.Combine(dir, "reference.safetensors")
                complete [ "zoo"; Path.Combine(dir, "reference.state"); reference ]
                let state = Path.Combine(dir, "run.state")
                let out = Path.Combine(dir, "run.safetensors")
                let mutable states = 0
                let made =
                    killAndResume 2 ReliabilityProbe.zooConfig.Epochs [ "zoo"; state; out ] (fun () ->
                        if File.Exists state then
                            let s = Storage.read state
                            for _, t in s.Tensors do t.Dispose()
                            states <- states + 1
                        Expect.isFalse (File.Exists out) "no zoo before training ends")
                Expect.equal made kills "killed as often as asked, each time while training"
                Expect.equal states made "a readable state after every kill"
                printfn $"zoo kill test: {made} kills"
                let a, b = Zoo.load reference, Zoo.load out
                Expect.bitExact a.Theta b.Theta "every checkpoint's weights"
                Expect.equal a.TestAccuracy b.TestAccuracy "recorded accuracies"
                Expect.equal a.Step b.Step "recorded steps"
                Expect.isFalse (File.Exists state) "the state file is removed when the zoo is saved"
                Expect.isEmpty (leftovers dir) "no temporary or lock file left")
        }
        test "the main job killed with SIGKILL at random moments resumes to the uninterrupted job's files, bit for bit" {
            withDir (fun dir ->
                let reference = Path.Combine(dir, "reference")
                let progressLines =
                    use p = start None [ "job"; reference ]
                    let err = p.StandardError.ReadToEndAsync()
                    let lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length
                    p.WaitForExit()
                    Expect.equal p.ExitCode 0 $"reference job: {err.Result}"
                    lines
                let run = Path.Combine(dir, "run")
                let readable () =
                    // after a kill every stage file is the old or the new one: all of them read
                    if Directory.Exists run then
                        for f in Directory.GetFiles(run, "*.safetensors") do
                            let s = Storage.read f
                            for _, t in s.Tensors do t.Dispose()
                let made = killAndResume 3 progressLines [ "job"; run ] readable
                Expect.isGreaterThanOrEqual made 1 "killed while the job ran"
                printfn $"main job kill test: {made} kills ({progressLines} progress events in an uninterrupted job)"
                let files (d: string) = Directory.GetFiles(d, "*.safetensors") |> Array.map Path.GetFileName |> Array.sort
                Expect.sequenceEqual (files run) (files reference) "the same stage files"
                for name in files reference do
                    let a, b = Storage.read (Path.Combine(reference, name)), Storage.read (Path.Combine(run, name))
                    for (n, x), (_, y) in List.zip a.Tensors b.Tensors do Expect.bitExact y x $"{name}: {n}"
                Expect.isEmpty (leftovers run) "no temporary or lock file left")
        }
        test "a write beyond the file-size limit (ulimit -f) fails with WriteFailed and leaves the previous file intact" {
            withDir (fun dir ->
                let path = Path.Combine(dir, "flow.checkpoint")
                use small = torch.arange(1000L, dtype = torch.float32)
                Storage.write path (Map.ofList [ "weightflow.kind", "probe" ]) [ "t", small ]
                let before = File.ReadAllBytes path
                // SIGXFSZ ignored (inherited through exec), so the write gets EFBIG instead of killing the process;
                // 256 blocks of 1 KiB, the new file is 1 MiB
                use p = start (Some "trap '' XFSZ; ulimit -f 256") [ "write"; path; "1" ]
                let err = p.StandardError.ReadToEndAsync()
                p.StandardOutput.ReadToEnd() |> ignore
                p.WaitForExit()
                Expect.equal p.ExitCode 6 $"WriteFailed exit code (stderr: {err.Result})"
                Expect.stringContains err.Result "write-failed" "the typed error"
                Expect.stringContains err.Result "previous file (if any) is intact" "says the old file is kept"
                Expect.isFalse (err.Result.Contains "..") $"the cause's own final period is not doubled (stderr: {err.Result})"
                Expect.equal (File.ReadAllBytes path) before "the previous file, byte for byte"
                Expect.isEmpty (leftovers dir) "the partial temporary file is removed")
        }
        test "a checkpoint write into a full file system (a 256 KiB tmpfs in a user namespace) fails with WriteFailed and leaves the previous checkpoint intact" {
            // a real ENOSPC: an unprivileged user and mount namespace (`unshare -Urm`) mounts a tmpfs of 256 KiB over
            // a folder, the previous checkpoint is copied in, and the probe writes a 1 MiB checkpoint over it; the
            // tmpfs exists only inside the namespace, so the script checks the previous file and the leftovers there
            let unshare = try (use p = Process.Start(ProcessStartInfo("unshare", [| "-Urm"; "true" |], RedirectStandardError = true)) in p.WaitForExit(); p.ExitCode = 0) with _ -> false
            if not unshare then skiptest "unprivileged user namespaces (unshare -Urm) are not permitted on this machine, so no tmpfs can be mounted; the file-size-limit test covers the same handler"
            withDir (fun dir ->
                let previous = Path.Combine(dir, "previous.checkpoint")
                use small = torch.arange(1000L, dtype = torch.float32)
                Storage.write previous (Map.ofList [ "weightflow.kind", "probe" ]) [ "t", small ]
                let fs = Path.Combine(dir, "fs")
                Directory.CreateDirectory fs |> ignore
                let script =
                    "mount -t tmpfs -o size=256k tmpfs \"$FS\" || exit 90; cp \"$PREVIOUS\" \"$FS/flow.checkpoint\"; "
                    + "\"$@\"; echo \"probe-exit $?\"; cmp -s \"$PREVIOUS\" \"$FS/flow.checkpoint\" && echo previous-intact; echo \"left: $(ls -A \"$FS\" | tr '\\n' ' ')\""
                let exe = Environment.ProcessPath
                let own = if Path.GetFileNameWithoutExtension exe = "dotnet" then [ exe; typeof<ReliabilityProbe.Marker>.Assembly.Location ] else [ exe ]
                let psi = ProcessStartInfo("unshare", List.toArray ([ "-Urm"; "bash"; "-c"; script; "bash" ] @ own @ [ "--reliability-probe"; "write"; Path.Combine(fs, "flow.checkpoint"); "1" ]))
                psi.RedirectStandardOutput <- true
                psi.RedirectStandardError <- true
                psi.UseShellExecute <- false
                psi.Environment["WEIGHTFLOW_THREADS"] <- "1"
                psi.Environment["FS"] <- fs
                psi.Environment["PREVIOUS"] <- previous
                use p = Process.Start psi
                let err = p.StandardError.ReadToEndAsync()
                let out = p.StandardOutput.ReadToEnd()
                p.WaitForExit()
                Expect.equal p.ExitCode 0 $"the namespace script ran (mount failed if 90; stderr: {err.Result})"
                Expect.stringContains out "probe-exit 6" $"WriteFailed exit code (stdout: {out}; stderr: {err.Result})"
                Expect.stringContains err.Result "write-failed" "the typed error"
                Expect.stringContains err.Result "No space left on device" "the cause, from the file system"
                Expect.stringContains err.Result "previous file (if any) is intact" "says the old file is kept"
                Expect.stringContains out "previous-intact" "the previous checkpoint, byte for byte"
                Expect.stringContains out "left: flow.checkpoint \n" "the partial temporary file is removed: only the previous checkpoint is left")
        }
        test "a non-finite loss stops training at that step and keeps the last good checkpoint" {
            withDir (fun dir ->
                let checkpoint = Path.Combine(dir, "flow.checkpoint")
                // Adam moves every weight by about the learning rate per step: 1e12 overflows float32 within a few steps
                let c = { ReliabilityProbe.flowConfig with LearningRate = 1e12; ClipNorm = None; Iterations = 100 }
                use targets = ReliabilityProbe.flowTargets ()
                let r = Training.train c ReliabilityProbe.flowLayout targets (Some checkpoint) ignore CancellationToken.None
                match r.Outcome with
                | Diverged step ->
                    Expect.isLessThan step c.Iterations "stopped early"
                    Expect.equal r.Losses.Length (step - 1) "the losses of the steps before"
                    Expect.all r.Losses Double.IsFinite "only finite losses recorded"
                    let s = Storage.read checkpoint
                    Expect.equal (Storage.meta checkpoint s "step") (string (step - 1)) "the checkpoint is the last good step"
                    for name, t in s.Tensors do
                        if t.is_floating_point() then Expect.isTrue (torch.isfinite(t).all().ToBoolean()) $"{name} finite"
                | o -> failtest $"expected Diverged, got {o}")
        }
        test "two runs on one output: the second is refused (Busy) while the first holds it, and can start once it is released" {
            withDir (fun dir ->
                let lockPath = Path.Combine(dir, "x.lock")
                let first = Storage.lock lockPath "The output x"
                TestValidation.expectError Check.ErrorKind.Busy [ "The output x"; "being written by another WeightFlow run" ] (fun () -> Storage.lock lockPath "The output x") |> ignore
                first.Dispose()
                (Storage.lock lockPath "The output x").Dispose()
                Expect.isFalse (File.Exists lockPath) "the lock file goes with its holder"
                // the holders: flow training on a checkpoint, zoo training on a state file, the main job on a folder
                let checkpoint = Path.Combine(dir, "flow.checkpoint")
                (use _held = Storage.lock (checkpoint + ".lock") "another run"
                 use targets = ReliabilityProbe.flowTargets ()
                 TestValidation.expectError Check.ErrorKind.Busy [ checkpoint ] (fun () ->
                     Training.train ReliabilityProbe.flowConfig ReliabilityProbe.flowLayout targets (Some checkpoint) ignore CancellationToken.None) |> ignore)
                let state = Path.Combine(dir, "zoo.state")
                (use _held = Storage.lock (state + ".lock") "another run"
                 TestValidation.expectError Check.ErrorKind.Busy [ state ] (fun () ->
                     Zoo.trainResumable { Path = state; MinInterval = TimeSpan.Zero } TestZoo.smallConfig TestZoo.blobsTask (TestZoo.blobs 1L) ignore CancellationToken.None) |> ignore)
                let out = Path.Combine(dir, "job")
                (use _held = Storage.lock (Path.Combine(out, ".weightflow.lock")) "another run"
                 TestValidation.expectError Check.ErrorKind.Busy [ out ] (fun () -> MainJob.run (MainJobConfig.uci 0L out) ignore CancellationToken.None) |> ignore))
        }
    ]
