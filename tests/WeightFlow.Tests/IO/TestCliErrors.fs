/// Issue 15, the CLI side of the bad-input table: the `weightflow` tool (built with the tests, see the project file)
/// run on bad files, data and options. One row per case of the issue's list that a command reaches (README
/// "Reliability" lists them beside the facade's rows); each row asserts the kind's exit code (2 option, 3 file or data,
/// 5 non-finite, 6 write failed, 7 busy), exactly one stderr line that starts with "error:" and names the problem
/// (a key phrase), no stack trace, and that no file was created or changed (its --out, and the whole folder).
module WeightFlow.Tests.TestCliErrors

open System
open System.Diagnostics
open System.IO
open System.Security.Cryptography
open System.Threading
open Expecto
open TorchSharp
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

/// Runs `weightflow args` with extra environment variables; returns exit code, stdout and stderr.
let private weightflowAll (env: (string * string) list) (args: string list) =
    let exe = Environment.ProcessPath
    let psi =
        if Path.GetFileNameWithoutExtension exe = "dotnet" then ProcessStartInfo(exe, List.toArray (cli () :: args))
        else ProcessStartInfo("dotnet", List.toArray (cli () :: args))
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    psi.Environment["WEIGHTFLOW_THREADS"] <- "1"
    // each row is a short, start-up-bound run: tiered JIT (the tool turns it off for long trainings, its project file)
    // cuts its CPU time by about a fifth (measured: 1.25 vs 1.58 s per row); the rows test behaviour, not speed
    psi.Environment["DOTNET_TieredCompilation"] <- "1"
    psi.Environment["DOTNET_TieredPGO"] <- "0"
    psi.Environment.Remove "WEIGHTFLOW_DEBUG" |> ignore
    for k, v in env do psi.Environment[k] <- v
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out, err.Result

/// Runs `weightflow args` with extra environment variables; returns exit code and stderr.
let private weightflow (env: (string * string) list) (args: string list) =
    let exit, _, err = weightflowAll env args
    exit, err

/// One row of the table: the issue's case, the command line, the expected exit code and a phrase of the message.
type Row =
    { Case: string
      Args: string list
      Env: (string * string) list
      Code: int
      Phrase: string }

let private row case code phrase args = { Case = case; Args = args; Env = []; Code = code; Phrase = phrase }

/// Every file under `dir` with its content hash (to prove that no row created or changed one).
let private snapshot (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
    |> Array.sort
    |> Array.map (fun f ->
        // a lock file held by this process cannot be read (flock); its length stands for its content
        let content = try Convert.ToHexString(SHA256.HashData(File.ReadAllBytes f)) with :? IOException -> $"held, {FileInfo(f).Length} bytes"
        Path.GetRelativePath(dir, f), content)
    |> Map.ofArray

/// The bad files, derived from tiny valid ones (TestValidation.writeFiles: a 4-8-2 zoo of 2 runs, an RT flow on it,
/// 3 samples, a 2-feature CSV, IDX labels), and the rows that use them.
let private table (dir: string) : Row list =
    let f = TestValidation.writeFiles dir
    let p name = Path.Combine(dir, name)
    let out name = p ("out-" + name)
    let put = TestValidation.put dir
    let rows (lines: string seq) = String.Join("\n", lines) + "\n"
    let derive (source: string) (name: string) (edit: string -> unit) =
        let path = p name
        File.Copy(source, path, true)
        edit path
        path
    let rewrite (source: string) (name: string) (map: int -> string * torch.Tensor -> torch.Tensor) =
        let s = Storage.read source
        let path = p name
        Storage.write path s.Metadata [ for i, (n, t) in List.indexed s.Tensors -> n, map i (n, t) ]
        path
    let cut (source: string) =
        let bytes = File.ReadAllBytes source
        let path = p ("cut-" + Path.GetFileName source)
        File.WriteAllBytes(path, bytes[.. bytes.Length - 5])
        path
    let raw name (bytes: byte[]) = let path = p name in File.WriteAllBytes(path, bytes); path
    // other valid files: an MLP flow, a zoo of another layout, a flow checkpoint (same entries, its own kind)
    let layout = Layout.parse "4-8-2"
    let mlpFlow = p "flow-mlp.safetensors"
    Flow.save mlpFlow (TestValidation.tinyFlow layout VelocityKind.Mlp)
    let zoo46 = p "zoo-4-6-2.safetensors"
    Zoo.save zoo46 (Zoo.train { TestZoo.smallConfig with Layout = Layout.parse "4-6-2"; Runs = 2; Epochs = 1 } TestZoo.blobsTask (TestZoo.blobs 2L) ignore CancellationToken.None)
    let checkpoint = derive f.Flow "flow.checkpoint" (fun path -> TestValidation.editMeta path "weightflow.kind" "flow-checkpoint")
    let blobs4 = put "blobs4.csv" (rows [ for i in 0 .. 59 -> $"{i % 7}.5,{i % 5}.25,{i % 3}.0,{i % 11}.5,{i % 2}" ])
    // a folder of MNIST files for `--task mnist` (WEIGHTFLOW_DATA): valid labels, bad images
    let mnist (name: string) (images: byte[]) =
        let root = p ("data-" + name)
        let folder = Path.Combine(root, Sources.mnistFolder)
        Directory.CreateDirectory folder |> ignore
        File.WriteAllBytes(Path.Combine(folder, Sources.mnistSubsetLabels), Idx.encode { Dims = [| 20 |]; Data = Array.init 20 (fun i -> byte (i % 10)) })
        File.WriteAllBytes(Path.Combine(folder, Sources.mnistSubsetImages), images)
        [ Sources.dataDirVariable, root ]
    let images = Idx.encode { Dims = [| 20; 28; 28 |]; Data = Array.init (20 * 28 * 28) byte }
    let idx = Idx.encode { Dims = [| 2; 3; 4 |]; Data = Array.init 24 byte }
    let nan _ (_: string, t: torch.Tensor) = t.clone().fill_(Double.NaN)
    let first (value: float) i (_: string, t: torch.Tensor) = if i = 0 then t.clone().fill_(value) else t
    let theta (map: torch.Tensor -> torch.Tensor) _ (n: string, t: torch.Tensor) = if n = "theta" then map t else t
    let csv name text = "csv:" + put name text
    let zooWith case code phrase task (extra: string list) =
        let defaults = [ "--runs", "1"; "--epochs", "2" ] |> List.filter (fun (k, _) -> not (List.contains k extra)) |> List.collect (fun (k, v) -> [ k; v ])
        row case code phrase ([ "zoo"; "--task"; task; "--out"; out (case.Replace(' ', '-') + ".safetensors") ] @ defaults @ extra)
    let zooCsv case code phrase task = zooWith case code phrase task []
    let trainOn case code phrase zoo extra = row case code phrase ([ "train"; "--zoo"; zoo; "--out"; out (case.Replace(' ', '-') + ".safetensors") ] @ extra)
    let sampleFrom case code phrase flow extra = row case code phrase ([ "sample"; "--flow"; flow; "--count"; "2"; "--steps"; "2"; "--out"; out (case.Replace(' ', '-') + ".safetensors") ] @ extra)
    let evalOf case code phrase weights extra = row case code phrase ([ "eval"; "--weights"; weights; "--task"; "csv:" + blobs4 ] @ extra)
    // the "corrupt checkpoint" row's state file: bytes whose header length is far beyond the file
    raw "out-corrupt-checkpoint.safetensors.checkpoint" (Array.init 5000 (fun i -> byte (i * 7919 % 251))) |> ignore
    let mnistRow case phrase bytes = { zooCsv case 3 phrase "mnist" with Env = mnist (case.Replace(' ', '-')) bytes }
    [ // --- tasks and files that do not exist -----------------------------------------------------------------------
      zooCsv "unknown task" 2 "Unknown task 'imagenet'" "imagenet"
      row "missing zoo file" 3 "File not found" [ "info"; p "missing.safetensors" ]
      row "missing flow file" 3 "File not found" [ "sample"; "--flow"; p "missing.safetensors"; "--out"; out "missing-flow.safetensors" ]
      evalOf "missing samples file" 3 "File not found" (p "missing-samples.safetensors") []
      zooCsv "missing CSV file" 3 "File not found" ("csv:" + p "missing.csv")
      zooCsv "MNIST not prepared" 3 "weightflow data prepare" "mnist" |> fun r -> { r with Env = [ Sources.dataDirVariable, p "no-data" ] }
      row "a folder given as a file" 3 "is a folder, not a file" [ "info"; dir ]
      row "a thread count that is not a number" 2 "WEIGHTFLOW_THREADS must be a whole number >= 1" [ "info"; f.Zoo ] |> fun r -> { r with Env = [ "WEIGHTFLOW_THREADS", "1x" ] }
      // --- files of the wrong kind --------------------------------------------------------------------------------
      row "CSV as zoo" 3 "is not a zoo file but CSV" [ "info"; f.Csv ]
      row "flow as zoo" 3 "is not a zoo file but a trained WeightFlow flow" [ "info"; f.Flow ]
      row "flow checkpoint as zoo" 3 "is not a zoo file but a flow-training checkpoint" [ "info"; checkpoint ]
      row "samples as zoo" 3 "is not a zoo file but sampled networks" [ "info"; f.Samples ]
      row "IDX as zoo" 3 "is not a zoo file but an IDX data file" [ "info"; f.Idx ]
      trainOn "samples as training zoo" 3 "is not a zoo file but sampled networks" f.Samples []
      sampleFrom "zoo as flow" 3 "is not a flow file but a WeightFlow zoo" f.Zoo []
      sampleFrom "samples as flow" 3 "is not a flow file but sampled networks" f.Samples []
      sampleFrom "CSV as flow" 3 "is not a flow file but CSV" f.Csv []
      evalOf "flow as networks" 3 "is not networks (a zoo or samples file) but a trained WeightFlow flow" f.Flow []
      evalOf "CSV as networks" 3 "is not networks (a zoo or samples file) but CSV" f.Csv []
      evalOf "flow as the evaluation zoo" 3 "is not a zoo file but a trained WeightFlow flow" f.Samples [ "--zoo"; f.Flow ]
      row "flow as loglik networks" 3 "is not a zoo file but a trained WeightFlow flow" [ "loglik"; "--flow"; f.Flow; "--weights"; f.Flow ]
      zooCsv "zoo as CSV" 3 "is not a CSV data set but a WeightFlow zoo" ("csv:" + f.Zoo)
      zooCsv "IDX as CSV" 3 "is not a CSV data set but an IDX data file" ("csv:" + f.Idx)
      mnistRow "CSV as IDX" "is not an IDX data file but CSV" (Text.Encoding.ASCII.GetBytes "1,2,0\n3,4,1\n")
      // --- CSV content ------------------------------------------------------------------------------------------------
      zooCsv "CSV ragged row" 3 "line 3 has 2 column(s)" (csv "ragged.csv" "1,2,0\n3,4,1\n5,1\n")
      zooCsv "CSV non-numeric cell" 3 "'abc' is not a number" (csv "text.csv" "1,2,0\n3,abc,1\n")
      zooCsv "CSV NaN" 3 "NaN or infinite" (csv "nan.csv" "1,2,0\nNaN,4,1\n")
      zooCsv "CSV infinity" 3 "NaN or infinite" (csv "inf.csv" "1,2,0\n3,-Infinity,1\n")
      zooCsv "CSV empty file" 3 "empty" (csv "empty.csv" "")
      zooCsv "CSV non-integer label" 3 "label 0.5 is not a class index" (csv "half.csv" "1,2,0\n3,4,0.5\n")
      zooCsv "CSV labels not 0..C-1" 3 "not 0..C-1" (csv "gaps.csv" (rows [ for i in 0 .. 59 -> $"{i}.5,{i % 7},{[| 0; 1; 7 |][i % 3]}" ]))
      zooCsv "CSV one class only" 3 "at least two classes" (csv "single.csv" (rows [ for i in 0 .. 39 -> $"{i}.0,0" ]))
      zooCsv "CSV too small for the split" 3 "too small" (csv "one.csv" "1.0,2.0,0\n")
      zooCsv "CSV split with a class missing" 3 "every split needs every class" (csv "rare.csv" (rows ([ for i in 0 .. 39 -> $"{i}.0,{i % 2}" ] @ [ "99.0,2" ])))
      // --- IDX (MNIST through WEIGHTFLOW_DATA) ---------------------------------------------------------------------------
      mnistRow "IDX wrong magic" "magic" (Array.append [| 1uy; 2uy |] images[2..])
      mnistRow "IDX truncated" "truncated IDX file" images[.. images.Length - 2]
      mnistRow "IDX header declaring gigabytes" "more than the 1073741824 data bytes"
          (Array.concat [ idx[..3]; Array.replicate 3 [| 0uy; 0uy; 0xFFuy; 0xFFuy |] |> Array.concat ])
      // --- zoo / flow / samples files: truncated, lying headers, dtype, version, layout, NaN ---------------------------
      row "zoo truncated" 3 "truncated or corrupt" [ "info"; cut f.Zoo ]
      sampleFrom "flow truncated" 3 "truncated or corrupt" (cut f.Flow) []
      evalOf "samples truncated" 3 "truncated or corrupt" (cut f.Samples) []
      row "header: a shape of 2^62 elements" 3 "needs more bytes than any file holds"
          [ "info"; raw "huge-shape.safetensors" (TestValidation.safetensors """{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}""" (Array.zeroCreate 8)) ]
      row "header: gigabyte tensor in a small file" 3 "bytes"
          [ "info"; raw "gigabyte.safetensors" (TestValidation.safetensors """{"a":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]}}""" (Array.zeroCreate 8)) ]
      row "header: length of 2^62 bytes" 3 "the header claims 4611686018427387904 bytes"
          [ "info"; raw "huge-header.safetensors" (Array.append (BitConverter.GetBytes(1L <<< 62)) (Text.Encoding.ASCII.GetBytes "{\"a\":1}")) ]
      row "header: JSON nested too deep" 3 "not JSON"
          [ "info"; raw "deep.safetensors" (TestValidation.safetensors ("{\"a\":" + String.replicate 40 "[" + String.replicate 40 "]" + "}") [||]) ]
      sampleFrom "flow header: a model far larger than its parameters" 3 "far larger than the"
          (derive f.Flow "wide-model.safetensors" (fun path -> TestValidation.editMeta path "model.node_width" "100000")) []
      row "zoo wrong dtype" 3 "float32" [ "info"; rewrite f.Zoo "zoo-f64.safetensors" (theta (fun t -> t.to_type torch.float64)) ]
      sampleFrom "flow wrong dtype" 3 "Float64" (rewrite f.Flow "flow-f64.safetensors" (fun i (_, t) -> if i = 0 then t.to_type torch.float64 else t)) []
      evalOf "samples wrong dtype" 3 "float32" (rewrite f.Samples "samples-i32.safetensors" (fun _ (_, t) -> t.to_type torch.int32)) []
      row "zoo unknown format version" 3 "format version '2'" [ "info"; derive f.Zoo "zoo-v2.safetensors" (fun path -> TestValidation.editMeta path "weightflow.format" "2") ]
      sampleFrom "flow unknown format version" 3 "format version '2'" (derive f.Flow "flow-v2.safetensors" (fun path -> TestValidation.editMeta path "weightflow.format" "2")) []
      evalOf "samples unknown format version" 3 "format version '2'" (derive f.Samples "samples-v2.safetensors" (fun path -> TestValidation.editMeta path "weightflow.format" "2")) []
      row "zoo header layout not its weights" 3 "4-800-2 MLP has" [ "info"; derive f.Zoo "zoo-lie.safetensors" (fun path -> TestValidation.editMeta path "layout" "4-800-2") ]
      evalOf "samples header layout with a zero width" 3 "does not describe samples" (derive f.Samples "samples-zero.safetensors" (fun path -> TestValidation.editMeta path "layout" "4-0-2")) []
      row "zoo NaN weights" 5 "NaN or infinite" [ "info"; rewrite f.Zoo "zoo-nan.safetensors" (theta (fun t -> t.index_fill(1L, torch.tensor([| 0L |]), Double.NaN))) ]
      sampleFrom "flow infinite weights" 5 "NaN or infinite" (rewrite f.Flow "flow-inf.safetensors" (first Double.PositiveInfinity)) []
      evalOf "samples NaN weights" 5 "NaN or infinite" (rewrite f.Samples "samples-nan.safetensors" nan) []
      // --- layouts that do not match the flow, the task or the data ------------------------------------------------------
      sampleFrom "layout of another depth than the flow" 2 "depth" f.Flow [ "--layout"; "4-8-8-2" ]
      sampleFrom "wider layout an MLP flow cannot sample" 2 "cannot run on 4-16-2" mlpFlow [ "--layout"; "4-16-2" ]
      zooWith "layout not matching the task's features" 2 "takes 5 inputs" ("csv:" + blobs4) [ "--layout"; "5-8-2" ]
      row "networks not matching the task's features" 3 "4-8-2 MLPs (4 inputs, 2 outputs) but the csv:" [ "eval"; "--weights"; f.Zoo; "--task"; "csv:" + f.Csv ]
      sampleFrom "guidance task not matching the flow's layout" 3 "has 2 features and 2 classes" f.Flow [ "--guidance"; "1"; "--task"; "csv:" + f.Csv ]
      evalOf "networks not matching the zoo" 3 "the zoo holds 4-6-2 MLPs" f.Samples [ "--zoo"; zoo46 ]
      row "networks not matching the likelihood's flow" 2 "4-6-2" [ "loglik"; "--flow"; mlpFlow; "--weights"; zoo46 ]
      // --- impossible options --------------------------------------------------------------------------------------------
      zooWith "zero runs" 2 "Runs must be >= 1" "uci" [ "--runs"; "0" ]
      row "unknown fidelity metric" 2 "is not a fidelity metric" [ "run"; "--fidelity"; "mmd"; "--out"; out "fidelity-run" ]
      row "unknown scaling prior" 2 "Unknown scaling prior 'diag'" [ "reproduce"; "scaling"; "--flow"; "euclidean"; "--prior"; "diag"; "--out"; out "scaling-prior" ]
      row "scaling prior with the Geometric widths" 2 "--prior applies to --flow euclidean only" [ "reproduce"; "scaling"; "--prior"; "standardized"; "--out"; out "scaling-geometric" ]
      row "--prior outside reproduce scaling" 2 "--prior applies to `reproduce scaling --flow euclidean` only" [ "reproduce"; "mnist"; "--prior"; "standardized"; "--out"; out "mnist-prior" ]
      row "unknown scaling lr" 2 "Unknown learning-rate scaling 'mup'" [ "reproduce"; "scaling"; "--flow"; "euclidean"; "--lr-scaling"; "mup"; "--out"; out "scaling-lr" ]
      row "scaling lr with the Geometric widths" 2 "--lr-scaling applies to --flow euclidean only" [ "reproduce"; "scaling"; "--lr-scaling"; "inverse-width"; "--out"; out "scaling-lr-geometric" ]
      row "--lr-scaling outside reproduce scaling" 2 "--lr-scaling applies to `reproduce scaling --flow euclidean` only" [ "reproduce"; "mnist"; "--lr-scaling"; "inverse-width"; "--out"; out "mnist-lr" ]
      zooWith "negative epochs" 2 "Epochs" "uci" [ "--epochs"; "-1" ]
      zooWith "layout with a zero width" 2 "positive" ("csv:" + blobs4) [ "--layout"; "4-0-2" ]
      sampleFrom "zero count" 2 "--count" f.Flow [ "--count"; "0" ]
      sampleFrom "negative steps" 2 "--steps" f.Flow [ "--steps"; "-3" ]
      sampleFrom "negative temperature" 2 "--temperature must be a finite number >= 0" f.Flow [ "--temperature"; "-0.5" ]
      sampleFrom "non-finite noise" 2 "noise scale must be finite" f.Flow [ "--noise"; "NaN"; "--window"; "0.5,1" ]
      sampleFrom "noise window t = 1 (outside [0, 1))" 2 "0 <= a < b <= 1" f.Flow [ "--noise"; "0.1"; "--window"; "1,1" ]
      sampleFrom "non-finite guidance lambda" 2 "--guidance must be finite" f.Flow [ "--guidance"; "NaN"; "--task"; "csv:" + blobs4 ]
      trainOn "zero iterations" 2 "Iterations" f.Zoo [ "--iterations"; "0"; "--hold-out"; "1" ]
      trainOn "non-finite learning rate" 2 "LearningRate" f.Zoo [ "--lr"; "NaN"; "--hold-out"; "1" ]
      trainOn "EMA decay outside [0, 1)" 2 "EmaDecay" f.Zoo [ "--ema"; "1.5"; "--hold-out"; "1" ]
      trainOn "holding out every run" 2 "Cannot hold out 2 of the zoo's 2 runs" f.Zoo [ "--hold-out"; "2" ]
      evalOf "zero networks to evaluate" 2 "--count must be positive" f.Zoo [ "--count"; "0" ]
      row "zero barrier pairs" 2 "--pairs must be at least 1" [ "barrier"; "--zoo"; f.Zoo; "--pairs"; "0" ]
      // --- the session-16 README audit (docs/results/audit.md): each was a bug's message, a wrong exit code or Argu's usage
      zooWith "zero batch size" 2 "BatchSize must be >= 1" "uci" [ "--batch-size"; "0" ]
      row "zero networks for the likelihood" 2 "--count must be at least 1" [ "loglik"; "--flow"; mlpFlow; "--weights"; f.Samples; "--count"; "0" ]
      row "zero likelihood batch" 2 "--batch must be at least 1" [ "loglik"; "--flow"; mlpFlow; "--weights"; f.Samples; "--batch"; "0" ]
      evalOf "zero BMA networks" 2 "--bma must be at least 1" f.Samples [ "--bma"; "0" ]
      row "export into a file" 2 "is a file; export writes one file per network into a folder" [ "export"; "--weights"; f.Samples; "--out"; f.Csv ]
      trainOn "unknown time distribution" 2 "--time: Cannot read the time distribution 'bogus'" f.Zoo [ "--time"; "bogus"; "--hold-out"; "1" ]
      trainOn "time distribution with a non-number" 2 "--time: cannot read 'beta(x,2)'" f.Zoo [ "--time"; "beta(x,2)"; "--hold-out"; "1" ]
      trainOn "unknown preconditioning" 2 "--preconditioning: Unknown preconditioning 'bogus'" f.Zoo [ "--preconditioning"; "bogus"; "--hold-out"; "1" ]
      row "reproduce with an unknown time distribution" 2 "--time: Cannot read" [ "reproduce"; "gaussians"; "--time"; "bogus"; "--out"; out "reproduce-time" ]
      row "no command" 2 "`weightflow` needs a command: run, reproduce" []
      row "bench without its command" 2 "`weightflow bench` needs a command: zoo, align or model" [ "bench" ]
      row "unknown option" 2 "unrecognized argument: '--bogus'; `weightflow zoo --help` lists the options" [ "zoo"; "--bogus" ]
      row "option value of the wrong type" 2 "'--runs' must be followed by <int>, but was 'abc'; `weightflow zoo --help`" [ "zoo"; "--task"; "uci"; "--runs"; "abc" ]
      trainOn "corrupt checkpoint" 3 "It is this run's saved training checkpoint (resuming continues from it), truncated or corrupt: delete it" f.Zoo [ "--resume"; "--hold-out"; "1" ]
      row "missing mandatory option" 2 "missing argument '--flow'; `weightflow sample --help` lists the options" [ "sample"; "--out"; out "no-flow.safetensors" ]
      // --- numerical guards -------------------------------------------------------------------------------------------------
      trainOn "training loss turning non-finite" 5 "is not finite; training stopped" f.Zoo
          [ "--flow"; "euclidean"; "--model"; "mlp"; "--width"; "8"; "--layers"; "1"; "--batch"; "4"; "--iterations"; "3"; "--hold-out"; "1"; "--lr"; "1e30" ]
      sampleFrom "every sample non-finite" 5 "samples are non-finite" (rewrite f.Flow "flow-huge.safetensors" (fun _ (_, t) -> t * 1e30)) []
      // --- writes ----------------------------------------------------------------------------------------------------------
      row "output folder is a file" 6 "Could not write" [ "align"; "--zoo"; f.Zoo; "--out"; Path.Combine(f.Csv, "aligned.safetensors") ] ]

[<Tests>]
let tests =
    testList "CliErrors" [
        test "the bad-input table through the built tool: the kind's exit code, one stderr line naming the problem, no stack trace, no file written" {
            TestValidation.withDir (fun dir ->
                let rows = table dir
                let before = snapshot dir
                let clock = Stopwatch.StartNew()
                let results =
                    rows |> List.map (fun r -> async { return r, weightflow r.Env r.Args })
                    |> fun jobs -> Async.Parallel(jobs, 2) |> Async.RunSynchronously
                let wall = clock.Elapsed.TotalSeconds
                let failures =
                    [ for r, (exit, err) in results do
                        let what = $"[{r.Case}] `weightflow {String.Join(' ', r.Args)}`"
                        let lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                        let problems =
                            [ if exit <> r.Code then $"exit code {exit}, expected {r.Code}"
                              if lines.Length <> 1 then $"{lines.Length} stderr lines, expected 1"
                              if lines.Length >= 1 && not (lines[0].StartsWith "error: ") then "the line does not start with 'error: '"
                              if not (err.Contains r.Phrase) then $"the message lacks '{r.Phrase}'"
                              if err.Contains "   at " then "a stack trace" ]
                        if not problems.IsEmpty then $"""{what}: {String.Join("; ", problems)}; stderr: {err.Trim()}""" ]
                Expect.isEmpty failures $"every row as expected ({failures.Length} of {rows.Length} not):\n{String.Join('\n', failures)}"
                let after = snapshot dir
                let created = after |> Map.filter (fun k _ -> not (before.ContainsKey k)) |> Map.keys |> List.ofSeq
                let changed = before |> Map.filter (fun k h -> after.TryFind k <> Some h) |> Map.keys |> List.ofSeq
                Expect.isEmpty created "no row created a file (outputs, temporary files, locks, plots)"
                Expect.isEmpty changed "no row changed or deleted a file"
                printfn $"CliErrors: {rows.Length} rows through the tool in %.1f{wall} s wall (2 at a time)")
        }
        test "under --json an error is also one JSON object on stdout: its kind, the stderr line's message and the exit code" {
            TestValidation.withDir (fun dir ->
                let missing = Path.Combine(dir, "missing.safetensors")
                let exit, out, err = weightflowAll [] [ "eval"; "--weights"; missing; "--task"; "uci"; "--json" ]
                Expect.equal exit 3 $"NotFound exit code (stderr: {err})"
                use doc = System.Text.Json.JsonDocument.Parse out
                let e = doc.RootElement.GetProperty "error"
                Expect.equal (e.GetProperty("kind").GetString()) "not-found" "the kind's name"
                Expect.equal (e.GetProperty("exit_code").GetInt32()) 3 "the exit code"
                Expect.equal ("error: " + e.GetProperty("message").GetString()) (err.Trim()) "the same message as the one stderr line"
                let exit, out, _ = weightflowAll [] [ "eval"; "--weights"; missing; "--task"; "uci" ]
                Expect.equal exit 3 "same exit code without --json"
                Expect.equal out "" "without --json nothing on stdout")
        }
        test "--help (of the tool, a command, a nested command) prints its usage on stdout and exits 0, nothing on stderr" {
            // the parse-error exiter (Program.fs) handles help too: it must stay Argu's usage, not an error line
            for args, usage in [ [ "--help" ], "USAGE: weightflow [--help]"; [ "zoo"; "--help" ], "USAGE: weightflow zoo [--help]"
                                 [ "bench"; "model"; "--help" ], "USAGE: weightflow bench model [--help]" ] do
                let exit, out, err = weightflowAll [] args
                Expect.equal exit 0 $"exit code of {args}"
                Expect.stringContains out usage $"usage of {args} on stdout"
                Expect.equal (err.Trim()) "" $"nothing on stderr for {args}"
        }
        test "the README's CLI table matches --help: every command, option and listed value exists" {
            // README "CLI" is a hand-written synopsis of `weightflow <command> --help`; the session-16 audit walked
            // it by hand (docs/results/audit.md). Each row's code spans are read for the command, its --options and
            // the a|b|c value sets after them; each must appear in that command's --help text.
            let root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(cli ()), "..", "..", "..", "..", ".."))
            let readme = File.ReadAllText(Path.Combine(root, "README.md"))
            let section = readme.Substring(readme.IndexOf "\n## CLI\n").Split("\n## ")[1]
            let rows = section.Split('\n') |> Array.filter (fun l -> l.StartsWith "| `")
            Expect.isGreaterThanOrEqual rows.Length 13 "the table's command rows"
            let help (args: string list) =
                let exit, out, err = weightflowAll [] (args @ [ "--help" ])
                Expect.equal exit 0 $"`weightflow {String.Join(' ', args)} --help` exits 0 (stderr: {err})"
                out
            let problems =
                [ for row in rows do
                    let spans = Text.RegularExpressions.Regex.Matches(row, "`([^`]*)`") |> Seq.map (fun m -> m.Groups[1].Value.Replace("\\|", "|")) |> List.ofSeq
                    let words = spans.Head.Split(' ')
                    let command = words[0]
                    let names = if words.Length > 1 && not (words[1].StartsWith "-") && words[1].Contains "|" then words[1].Split('|') else [||]
                    let commandHelp = help [ command ]
                    for n in names do
                        if not (commandHelp.Contains n) then $"`{command} {n}`: not in `weightflow {command} --help`"
                    // bench's options are its subcommands'; data's are prepare's
                    let optionHelp =
                        match command with
                        | "bench" -> help [ "bench"; "zoo" ]
                        | "data" -> help [ "data"; "prepare" ]
                        | _ -> commandHelp
                    for span in spans do
                        for m in Text.RegularExpressions.Regex.Matches(span, "(--[a-z][a-z-]*)(?: ([^ \\[\\]]+))?") do
                            let flag = m.Groups[1].Value
                            if not (Text.RegularExpressions.Regex.IsMatch(optionHelp, Text.RegularExpressions.Regex.Escape flag + "[ ,]")) then
                                $"`{command} {flag}`: not in its --help"
                            elif m.Groups[2].Success && m.Groups[2].Value.Contains "|" then
                                for v in m.Groups[2].Value.Split('|') do
                                    if not (optionHelp.Contains v) then $"`{command} {flag} {v}`: the value is not in its --help" ]
            Expect.isEmpty problems $"README \"CLI\" against --help:\n{String.Join('\n', problems)}"
        }
        test "a corrupt zoo training state: the fix is to delete it (not to regenerate it with `weightflow zoo --out` the state's name)" {
            TestValidation.withDir (fun dir ->
                let out = Path.Combine(dir, "zoo.safetensors")
                File.WriteAllBytes(out + ".training-state", Array.init 5000 (fun i -> byte (i * 7919 % 251)))
                let exit, err = weightflow [] [ "zoo"; "--task"; "uci"; "--runs"; "1"; "--epochs"; "2"; "--out"; out ]
                let lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                Expect.equal exit 3 $"exit code (stderr: {err})"
                // the resume note, then the error
                Expect.isLessThanOrEqual lines.Length 2 $"the note and one error line: {err}"
                Expect.stringContains (Array.last lines) "It is this run's saved training state" "names the file as the run's own state"
                Expect.stringContains (Array.last lines) "delete it to start the run afresh" "the fix"
                Expect.isFalse (err.Contains "regenerate it") $"no advice to regenerate a state file: {err}"
                Expect.isFalse (File.Exists out) "no zoo written")
        }
        test "a run refused while another holds the flow checkpoint: Busy, exit 7, nothing written" {
            TestValidation.withDir (fun dir ->
                let f = TestValidation.writeFiles dir
                let out = Path.Combine(dir, "busy.safetensors")
                use held = Storage.lock (out + ".checkpoint.lock") "the test's hold"
                let before = snapshot dir
                let exit, err = weightflow [] [ "train"; "--zoo"; f.Zoo; "--flow"; "euclidean"; "--model"; "mlp"; "--width"; "8"; "--layers"; "1"; "--batch"; "4"; "--iterations"; "2"; "--hold-out"; "1"; "--out"; out ]
                Expect.equal exit 7 $"exit code (stderr: {err})"
                Expect.equal (err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length) 1 $"one line: {err}"
                Expect.stringContains err "is being written by another WeightFlow run" "names the problem and the fix"
                Expect.equal (snapshot dir) before "nothing written")
        }
    ]
