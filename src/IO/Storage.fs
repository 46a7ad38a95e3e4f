/// Safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
/// byte range (plus a string-to-string `__metadata__` map), then raw little-endian tensor bytes. The layout follows the
/// safetensors specification (dtype names, offsets relative to the data, no holes, space-padded header), so
/// Python's `safetensors` should read these files (not checked here: PyPI is not reachable); nothing executes on load. Files are
/// written to a temporary file and renamed, so a crash never leaves a half-written file behind.
[<RequireQualifiedAccess>]
module WeightFlow.Storage

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open TorchSharp

/// A loaded file: metadata and named CPU tensors, in file order.
[<NoEquality; NoComparison>]
type Stored = { Metadata: Map<string, string>; Tensors: (string * Tensor) list }

let private dtypeName (t: Tensor) =
    match t.dtype with
    | torch.ScalarType.Float32 -> "F32", 4
    | torch.ScalarType.Float64 -> "F64", 8
    | torch.ScalarType.Int32 -> "I32", 4
    | torch.ScalarType.Int64 -> "I64", 8
    | d -> invalidArg "tensors" $"Storage supports F32, F64, I32 and I64 tensors; got {d}. Convert it with .to_type first."

/// Writes a tensor's raw little-endian bytes to `stream` in chunks of at most 16 MiB, so that saving a large tensor
/// (a zoo's checkpoints) never holds a full managed copy of it (README, engineering notes, "Storage").
let private writeBytes (stream: Stream) (t: Tensor) =
    use c = t.detach().cpu().contiguous()
    use flat = c.reshape(-1L)
    let n = flat.numel()
    let chunk = (16L <<< 20) / int64 (snd (dtypeName t))
    let mutable start = 0L
    while start < n do
        let k = min chunk (n - start)
        use part = flat.narrow(0L, start, k)
        let bytes : ReadOnlySpan<byte> =
            match part.dtype with
            | torch.ScalarType.Float32 -> MemoryMarshal.AsBytes(ReadOnlySpan(part.data<float32>().ToArray()))
            | torch.ScalarType.Float64 -> MemoryMarshal.AsBytes(ReadOnlySpan(part.data<float>().ToArray()))
            | torch.ScalarType.Int32 -> MemoryMarshal.AsBytes(ReadOnlySpan(part.data<int>().ToArray()))
            | _ -> MemoryMarshal.AsBytes(ReadOnlySpan(part.data<int64>().ToArray()))
        stream.Write(bytes)
        start <- start + k

/// The format version written into every WeightFlow file's header ("weightflow.format"); a file with another version
/// is refused with a clear error instead of being misread. Files without the entry predate it and are version 1.
[<Literal>]
let FormatVersion = "1"

let private alive (pid: int) =
    try (use p = Diagnostics.Process.GetProcessById pid in not p.HasExited) with _ -> false

/// Deletes temporary files of `full` (`NAME.PID.GUID.tmp`) left by processes that no longer run (a kill -9 during a
/// write leaves one; the file it was replacing is intact).
let private removeStale (full: string) =
    try
        let name = Path.GetFileName full
        for f in Directory.GetFiles(Path.GetDirectoryName full, name + ".*.tmp") do
            match Path.GetFileName(f).Substring(name.Length + 1).Split('.') with
            | [| pid; _; "tmp" |] ->
                match Int32.TryParse pid with
                | true, p when p <> Environment.ProcessId && not (alive p) -> File.Delete f
                | _ -> ()
            | _ -> ()
    with :? IOException | :? UnauthorizedAccessException -> ()

/// Replaces `path` atomically with what `write` puts into a new file: a temporary file in the same folder, flushed to
/// the disk (fsync), then renamed over `path`. A crash or kill leaves the old file or the new one, never a mix; a
/// failed write (a full disk, a file-size limit) deletes the temporary file, leaves the old file intact and raises
/// WeightFlowError WriteFailed naming the file and the cause.
let writeAtomic (path: string) (write: Stream -> unit) =
    let full = Path.GetFullPath path
    let tmp = full + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp"
    try
        try
            // inside the handler: a parent that is a file (or not writable) is a failed write, not a crash
            Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
            removeStale full
            (use f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 <<< 16)
             write f
             f.Flush true)
            File.Move(tmp, full, true)
        // .NET reports a full disk (ENOSPC) as an IOException and a write past the file-size limit (EFBIG) as an
        // ArgumentException ("Specified file length was too large for the file system"); callers' checks run before
        // this point, so an ArgumentException here comes from the file system
        with :? IOException | :? UnauthorizedAccessException | :? ArgumentException as e ->
            Check.fail Check.ErrorKind.WriteFailed $"Could not write {full}: {e.Message.TrimEnd('.')}. The previous file (if any) is intact; free disk space, raise the file-size limit or check permissions, then run again."
    finally
        if File.Exists tmp then (try File.Delete tmp with _ -> ())

/// An exclusive lock on the file `lockPath`, held until the handle is disposed (issue 15: two runs writing into one
/// output would corrupt each other's files). The lock is the operating system's (flock, through FileShare.None), so
/// it dies with its process, even by kill -9: a lock file left behind never blocks, only a live holder does. `what`
/// names the output in the refusal (WeightFlowError Busy).
let lock (lockPath: string) (what: string) : IDisposable =
    let full = Path.GetFullPath lockPath
    let folder = Path.GetDirectoryName full
    try Directory.CreateDirectory folder |> ignore
    with :? IOException | :? UnauthorizedAccessException as e ->
        Check.fail Check.ErrorKind.WriteFailed $"Cannot create the folder {folder} of the lock file {full} ({e.Message}); is a part of the output path a file? Write to another output."
    try new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose) :> IDisposable
    with
    | :? UnauthorizedAccessException as e ->
        Check.fail Check.ErrorKind.WriteFailed $"Cannot create the lock file {full} ({e.Message}); check the folder's permissions."
    | :? IOException ->
        Check.fail Check.ErrorKind.Busy $"{what} is being written by another WeightFlow run (it holds {full}). Wait for it to finish, or write to another output."

/// Writes text atomically (see writeAtomic): reports, manifests.
let writeTextAtomic (path: string) (text: string) =
    writeAtomic path (fun s -> let b = Text.Encoding.UTF8.GetBytes text in s.Write(b, 0, b.Length))

/// Moves a finished temporary file (e.g. one a plotting library wrote) over `path` after flushing it to the disk.
let commit (tmp: string) (path: string) =
    (use f = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite) in f.Flush true)
    File.Move(tmp, path, true)

/// Writes tensors and metadata to `path` atomically (writeAtomic). A header with a "weightflow.kind" entry gets the
/// format version too.
let write (path: string) (metadata: Map<string, string>) (tensors: (string * Tensor) list) =
    let names = tensors |> List.map fst
    if List.distinct names <> names then invalidArg "tensors" "Tensor names in one file must be unique."
    let metadata =
        if metadata.ContainsKey "weightflow.kind" && not (metadata.ContainsKey "weightflow.format") then metadata.Add("weightflow.format", FormatVersion)
        else metadata
    let blobs = tensors |> List.map (fun (n, t) -> n, t, t.numel() * int64 (snd (dtypeName t)))
    use header = new MemoryStream()
    (use w = new Utf8JsonWriter(header)
     w.WriteStartObject()
     w.WriteStartObject "__metadata__"
     for KeyValue(k, v) in metadata do w.WriteString(k, v)
     w.WriteEndObject()
     let mutable offset = 0L
     for n, t, b in blobs do
         w.WriteStartObject n
         w.WriteString("dtype", fst (dtypeName t))
         w.WriteStartArray "shape"
         for d in t.shape do w.WriteNumberValue d
         w.WriteEndArray()
         w.WriteStartArray "data_offsets"
         w.WriteNumberValue offset
         w.WriteNumberValue(offset + b)
         w.WriteEndArray()
         w.WriteEndObject()
         offset <- offset + b
     w.WriteEndObject())
    // The spec pads the header with spaces to a multiple of 8 bytes so the data is aligned.
    let pad = (8 - int (header.Length % 8L)) % 8
    writeAtomic path (fun f ->
        f.Write(BitConverter.GetBytes(header.Length + int64 pad), 0, 8)
        header.WriteTo f
        f.Write(Array.create pad (byte ' '), 0, pad)
        for _, t, _ in blobs do writeBytes f t)

/// What a file holds, judged from its first bytes without trusting any size in it (issue 15: a file of the wrong
/// kind is named as such instead of being misread).
[<RequireQualifiedAccess>]
type FileKind =
    | Missing
    | Empty
    /// A safetensors file; its "weightflow.kind" entry if it has one ("zoo", "flow", "samples", ...).
    | Safetensors of kind: string option
    | Idx
    | Gzip
    /// Text (a CSV data set or any other text file).
    | Text
    | Unknown

/// A header is JSON text of a few kB per tensor; a claimed length beyond this bound is corrupt (bounds the buffer
/// allocated for it, together with the file's length).
[<Literal>]
let MaxHeaderBytes = 100_000_000L

/// Limits of the header's JSON: nesting (a safetensors header has depth 3) and length (MaxHeaderBytes).
let private jsonOptions = JsonDocumentOptions(MaxDepth = 8, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow)

let private looksLikeText (bytes: byte[]) (n: int) =
    n > 0 && (let printable = bytes |> Seq.take n |> Seq.filter (fun b -> b = 9uy || b = 10uy || b = 13uy || (b >= 32uy && b < 127uy) || b >= 128uy) |> Seq.length
              float printable >= 0.95 * float n)

/// Detects a file's kind from its first bytes: safetensors (8-byte little-endian header length, then a JSON object
/// starting with '{'), IDX (two zero bytes, a type byte, a dimension count), gzip (1f 8b), text.
let detect (path: string) : FileKind =
    if not (File.Exists path) then FileKind.Missing
    else
        use f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)
        let length = f.Length
        if length = 0L then FileKind.Empty
        else
            let head = Array.zeroCreate<byte> (int (min length 4096L))
            f.ReadExactly(head, 0, head.Length)
            let n = if head.Length >= 8 then BitConverter.ToInt64(head, 0) else -1L
            if n > 1L && n <= length - 8L && n <= MaxHeaderBytes && head.Length > 8 && head[8] = byte '{' then
                let kind =
                    try
                        let h = Array.zeroCreate<byte> (int n)
                        f.Seek(8L, SeekOrigin.Begin) |> ignore
                        f.ReadExactly(h, 0, int n)
                        use doc = JsonDocument.Parse(ReadOnlyMemory(h), jsonOptions)
                        match doc.RootElement.TryGetProperty "__metadata__" with
                        | true, m when m.ValueKind = JsonValueKind.Object ->
                            match m.TryGetProperty "weightflow.kind" with
                            | true, k when k.ValueKind = JsonValueKind.String -> Some(k.GetString())
                            | _ -> None
                        | _ -> None
                    with _ -> None
                FileKind.Safetensors kind
            elif head.Length >= 2 && head[0] = 0x1fuy && head[1] = 0x8buy then FileKind.Gzip
            elif head.Length >= 4 && head[0] = 0uy && head[1] = 0uy && head[2] >= 0x08uy && head[2] <= 0x0Euy && head[3] >= 1uy then FileKind.Idx
            elif looksLikeText head head.Length then FileKind.Text
            else FileKind.Unknown

/// Words for a file kind in error messages ("CSV or other text", "a WeightFlow zoo", ...).
let describe (kind: FileKind) : string =
    match kind with
    | FileKind.Missing -> "missing"
    | FileKind.Empty -> "an empty file"
    | FileKind.Safetensors (Some "zoo") -> "a WeightFlow zoo (pass it with --zoo or --weights)"
    | FileKind.Safetensors (Some "flow") -> "a trained WeightFlow flow (pass it with --flow)"
    | FileKind.Safetensors (Some "flow-checkpoint") -> "a flow-training checkpoint (resume it with `weightflow train --resume`, or sample it with --flow)"
    | FileKind.Safetensors (Some "samples") -> "sampled networks (pass them with --weights)"
    | FileKind.Safetensors (Some "zoo-training-state") -> "the saved state of an interrupted zoo training (rerun the zoo command to resume it)"
    | FileKind.Safetensors (Some "velocity-model") -> "a velocity model"
    | FileKind.Safetensors (Some k) -> $"a WeightFlow '{k}' file"
    | FileKind.Safetensors None -> "a safetensors file not written by WeightFlow"
    | FileKind.Idx -> "an IDX data file (MNIST format; data sets are read by --task)"
    | FileKind.Gzip -> "a gzip file (a compressed IDX data set?)"
    | FileKind.Text -> "CSV or other text (a data set? pass it with --task csv:PATH)"
    | FileKind.Unknown -> "binary data of an unknown format"

/// The fix for a damaged file the user made: regenerate it. A run's own saved state has another fix (Resumable).
let private regenerate (path: string) =
    $"The file is truncated or corrupt; regenerate it with the command that wrote it (a zoo: `weightflow zoo`, a flow: `weightflow train`, samples: `weightflow sample`; each with --out {Path.GetFileName path})."

let private scalarType (dtype: string) =
    match dtype with "F32" -> torch.float32 | "F64" -> torch.float64 | "I32" -> torch.int32 | _ -> torch.int64

/// Reads `count` elements of `dtype` from `stream` into a new tensor of `shape`, in chunks of at most 16 MiB: loading a
/// large tensor holds no full managed copy of it, and files over 2 GB (beyond one managed array) can be read.
let private readTensor (stream: Stream) (dtype: string) (size: int64) (shape: int64[]) (count: int64) : Tensor =
    let t = torch.empty(shape, dtype = scalarType dtype)
    use flat = t.view(-1L)
    let chunk = (16L <<< 20) / size
    let buffer = Array.zeroCreate<byte> (int (min count chunk * size))
    let mutable start = 0L
    while start < count do
        let k = min chunk (count - start)
        let bytes = int (k * size)
        stream.ReadExactly(buffer, 0, bytes)
        let span = ReadOnlySpan(buffer, 0, bytes)
        use part =
            match dtype with
            | "F32" -> torch.tensor(MemoryMarshal.Cast<byte, float32>(span).ToArray())
            | "F64" -> torch.tensor(MemoryMarshal.Cast<byte, float>(span).ToArray())
            | "I32" -> torch.tensor(MemoryMarshal.Cast<byte, int>(span).ToArray())
            | _ -> torch.tensor(MemoryMarshal.Cast<byte, int64>(span).ToArray())
        use slot = flat.narrow(0L, start, k)
        slot.copy_(part) |> ignore
        start <- start + k
    t

/// Reads and validates a file: header size, JSON (depth and length bounded), dtypes, shapes against byte ranges
/// (products checked for overflow, so no header can make it allocate more than the file's bytes), ranges inside the
/// file, contiguous and covering the data exactly, unique names, string metadata, the format version. Any violation
/// raises WeightFlowError (Corrupt, or WrongKind when the file is not safetensors at all) naming it, then `fix`: what
/// the reader's user should do about a damaged file. Memory: the header (at most the file's length) plus the tensors
/// (exactly the data section's bytes) plus one 16 MiB buffer.
let readOr (fix: string) (path: string) : Stored =
    let corrupt why : 'a = Check.dataError $"{path} is not a valid WeightFlow/safetensors file: {why}. {fix}"
    Check.fileExists path "Check the path, or create the file with the command that writes it (e.g. `weightflow zoo`)."
    let notSafetensors why =
        match detect path with
        | FileKind.Text | FileKind.Idx | FileKind.Gzip as k -> Check.fail Check.ErrorKind.WrongKind $"{path} is not a WeightFlow file (safetensors) but {describe k}; pass the file the command expects."
        | _ -> corrupt why
    use stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 <<< 16)
    let length = stream.Length
    if length < 8L then notSafetensors $"it has {length} bytes, fewer than the 8-byte header length"
    let lengthBytes = Array.zeroCreate<byte> 8
    stream.ReadExactly(lengthBytes, 0, 8)
    let n = BitConverter.ToInt64(lengthBytes, 0)
    if n <= 0L || n > length - 8L || n > MaxHeaderBytes then notSafetensors $"the header claims {n} bytes but the file has {length}"
    let headerBytes = Array.zeroCreate<byte> (int n)
    stream.ReadExactly(headerBytes, 0, int n)
    let doc =
        try JsonDocument.Parse(ReadOnlyMemory(headerBytes), jsonOptions)
        with :? JsonException as e -> notSafetensors $"the header is not JSON ({e.Message})"
    use doc = doc
    let dataStart = 8L + n
    let dataLen = length - dataStart
    let mutable metadata = Map.empty
    let entries = ResizeArray()
    let seen = Collections.Generic.HashSet<string>()
    if doc.RootElement.ValueKind <> JsonValueKind.Object then corrupt "the header is not a JSON object"
    // JsonDocument checks the structure; names and strings are decoded when read, where invalid UTF-8 raises
    try
     for p in doc.RootElement.EnumerateObject() do
        if not (seen.Add p.Name) then corrupt $"the header names '{p.Name}' twice"
        if p.Name = "__metadata__" then
            if p.Value.ValueKind <> JsonValueKind.Object then corrupt "'__metadata__' is not a JSON object"
            for m in p.Value.EnumerateObject() do
                if m.Value.ValueKind <> JsonValueKind.String then corrupt $"metadata entry '{m.Name}' is not a string"
                if metadata.ContainsKey m.Name then corrupt $"metadata entry '{m.Name}' appears twice"
                metadata <- metadata.Add(m.Name, m.Value.GetString())
        else
            if p.Value.ValueKind <> JsonValueKind.Object then corrupt $"tensor '{p.Name}' is not a JSON object"
            let get (k: string) (kind: JsonValueKind) =
                match p.Value.TryGetProperty k with
                | true, v when v.ValueKind = kind -> v
                | true, _ -> corrupt $"tensor '{p.Name}' has a '{k}' of the wrong JSON type"
                | _ -> corrupt $"tensor '{p.Name}' has no '{k}'"
            let dtype = (get "dtype" JsonValueKind.String).GetString()
            let size =
                match dtype with
                | "F32" | "I32" -> 4L
                | "F64" | "I64" -> 8L
                | d -> corrupt $"tensor '{p.Name}' has unsupported dtype '{d}' (WeightFlow files hold F32, F64, I32 and I64)"
            let integers (k: string) =
                [| for d in (get k JsonValueKind.Array).EnumerateArray() ->
                    match d.ValueKind, (if d.ValueKind = JsonValueKind.Number then d.TryGetInt64() else (false, 0L)) with
                    | JsonValueKind.Number, (true, v) -> v
                    | _ -> corrupt $"tensor '{p.Name}' has a '{k}' entry that is not an integer" |]
            let shape = integers "shape"
            let offs = integers "data_offsets"
            if shape.Length > 16 then corrupt $"tensor '{p.Name}' has {shape.Length} dimensions (at most 16 are read)"
            if offs.Length <> 2 || offs[0] < 0L || offs[1] < offs[0] || offs[1] > dataLen then
                corrupt $"tensor '{p.Name}' claims bytes %A{offs} but the data section has {dataLen} bytes"
            if shape |> Array.exists (fun d -> d < 0L) then corrupt $"tensor '{p.Name}' has a negative dimension"
            // the element count, checked against the data section before anything is multiplied past it (a header
            // lying about sizes could otherwise overflow int64 to a small number and allocate the product)
            // (zero dimensions count as 1 here: torch computes strides from the other dimensions)
            let bound =
                shape |> Array.fold (fun acc d ->
                    let d = max d 1L
                    if acc > (Int64.MaxValue / size) / d then corrupt $"tensor '{p.Name}' of shape %A{shape} needs more bytes than any file holds (the file's data section has {dataLen})"
                    acc * d) 1L
            let count = if Array.contains 0L shape then 0L else bound
            if count * size <> offs[1] - offs[0] then
                corrupt $"tensor '{p.Name}' of shape %A{shape} needs {count * size} bytes but its range holds {offs[1] - offs[0]}"
            entries.Add((p.Name, dtype, size, shape, offs[0], offs[1]))
    with :? InvalidOperationException as e -> corrupt $"the header holds text that is not valid UTF-8 ({e.Message})"
    match metadata.TryFind "weightflow.format" with
    | Some v when v <> FormatVersion ->
        corrupt $"it has format version '{v}' but this WeightFlow reads version {FormatVersion} (written by a newer WeightFlow? update it)"
    | _ -> ()
    let sorted = entries |> Seq.sortBy (fun (_, _, _, _, s, _) -> s) |> List.ofSeq
    let mutable expect = 0L
    for (name, _, _, _, s, e) in sorted do
        if s <> expect then corrupt $"tensor '{name}' starts at byte {s} but {expect} was expected (overlap or gap)"
        expect <- e
    if expect <> dataLen then corrupt $"the tensors cover {expect} of {dataLen} data bytes"
    // the ranges are contiguous and cover the data (checked above): read them in file order, then list them in
    // header order
    let loaded = Collections.Generic.Dictionary<string, Tensor>()
    try
        for (name, dtype, size, shape, s, e) in sorted do
            stream.Seek(dataStart + s, SeekOrigin.Begin) |> ignore
            loaded[name] <- readTensor stream dtype size shape ((e - s) / size)
    with :? EndOfStreamException | :? IOException as e ->
        for t in loaded.Values do t.Dispose()
        corrupt $"reading its data failed ({e.Message})"
    let tensors = [ for (name, _, _, _, _, _) in entries -> name, loaded[name] ]
    { Metadata = metadata; Tensors = tensors }

/// Reads and validates a file (readOr); a damaged file's error says to regenerate it with the command that wrote it.
let read (path: string) : Stored = readOr (regenerate path) path

/// Reads a WeightFlow file whose "weightflow.kind" must be one of `kinds`; `what` names the expected kind in the
/// error ("a zoo") and `hint` says how to make one. Another kind, or a file that is not a WeightFlow file at all
/// (a CSV, an IDX file), is one WeightFlowError WrongKind saying what the file is instead.
let readKind (kinds: string list) (what: string) (hint: string) (path: string) : Stored =
    Check.fileExists path hint
    match detect path with
    | FileKind.Safetensors (Some k) when not (List.contains k kinds) ->
        Check.fail Check.ErrorKind.WrongKind $"{path} is not {what} but {describe (FileKind.Safetensors(Some k))}. {hint}"
    | FileKind.Safetensors _ | FileKind.Empty | FileKind.Unknown -> ()
    | k -> Check.fail Check.ErrorKind.WrongKind $"{path} is not {what} but {describe k}. {hint}"
    let s = read path
    match s.Metadata.TryFind "weightflow.kind" with
    | Some k when List.contains k kinds -> s
    | found ->
        for _, t in s.Tensors do t.Dispose()
        let k = match found with Some k -> FileKind.Safetensors(Some k) | None -> FileKind.Safetensors None
        Check.fail Check.ErrorKind.WrongKind $"{path} is not {what} but {describe k}. {hint}"

/// Runs a loader's interpretation of a read file, turning a parse failure of a header value (a number, a layout)
/// into one WeightFlowError naming the file instead of a FormatException or a stack trace.
let interpret (path: string) (what: string) (f: unit -> 'a) : 'a =
    try f ()
    with
    | :? FormatException | :? OverflowException | :? ArgumentException | :? InvalidOperationException | :? Collections.Generic.KeyNotFoundException as e ->
        Check.dataError $"{path}: its header does not describe {what} ({e.Message}); the file was edited or damaged. Regenerate it."

/// The tensor called `name`, or a DataError naming the file and the missing tensor.
let tensor (path: string) (stored: Stored) (name: string) : Tensor =
    match stored.Tensors |> List.tryFind (fst >> (=) name) with
    | Some(_, t) -> t
    | None ->
        let held = stored.Tensors |> List.map fst |> String.concat ", "
        Check.dataError $"{path} has no tensor '{name}' (it holds: {held}); it was not written by this version of WeightFlow or is of another kind."

/// The metadata entry `key`, or a DataError.
let meta (path: string) (stored: Stored) (key: string) : string =
    match stored.Metadata.TryFind key with
    | Some v -> v
    | None -> Check.dataError $"{path} has no metadata '{key}'; it was not written by WeightFlow or is of another kind."
