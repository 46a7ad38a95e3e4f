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

/// Writes tensors and metadata to `path` atomically (temp file in the same folder, then rename).
let write (path: string) (metadata: Map<string, string>) (tensors: (string * Tensor) list) =
    let names = tensors |> List.map fst
    if List.distinct names <> names then invalidArg "tensors" "Tensor names in one file must be unique."
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
    let full = Path.GetFullPath path
    Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
    let tmp = full + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp"
    try
        (use f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write)
         f.Write(BitConverter.GetBytes(header.Length + int64 pad), 0, 8)
         header.WriteTo f
         f.Write(Array.create pad (byte ' '), 0, pad)
         for _, t, _ in blobs do writeBytes f t
         f.Flush true)
        File.Move(tmp, full, true)
    with _ ->
        if File.Exists tmp then File.Delete tmp
        reraise ()

let private corrupt (path: string) (why: string) =
    Check.dataError $"{path} is not a valid WeightFlow/safetensors file: {why}. The file is truncated or corrupt; regenerate it (e.g. `weightflow zoo ... --out {Path.GetFileName path}`)."

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

/// Reads and validates a file: header size, JSON, dtypes, shapes against byte ranges, ranges inside the file,
/// contiguous and covering the data exactly. Any violation raises `Check.DataError` naming it.
let read (path: string) : Stored =
    Check.fileExists path "Check the path, or create the file with the command that writes it (e.g. `weightflow zoo`)."
    use stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 <<< 20)
    let length = stream.Length
    if length < 8L then corrupt path $"it has {length} bytes, fewer than the 8-byte header length"
    let lengthBytes = Array.zeroCreate<byte> 8
    stream.ReadExactly(lengthBytes, 0, 8)
    let n = BitConverter.ToInt64(lengthBytes, 0)
    // a header is JSON text of a few kB per tensor; 100 MB bounds a corrupt length before it is allocated
    if n <= 0L || n > length - 8L || n > 100_000_000L then corrupt path $"the header claims {n} bytes but the file has {length}"
    let headerBytes = Array.zeroCreate<byte> (int n)
    stream.ReadExactly(headerBytes, 0, int n)
    let doc =
        try JsonDocument.Parse(ReadOnlyMemory(headerBytes))
        with :? JsonException as e -> corrupt path $"the header is not JSON ({e.Message})"
    use doc = doc
    let dataStart = 8L + n
    let dataLen = length - dataStart
    let mutable metadata = Map.empty
    let entries = ResizeArray()
    if doc.RootElement.ValueKind <> JsonValueKind.Object then corrupt path "the header is not a JSON object"
    for p in doc.RootElement.EnumerateObject() do
        if p.Name = "__metadata__" then
            for m in p.Value.EnumerateObject() do metadata <- metadata.Add(m.Name, m.Value.GetString())
        else
            let get (k: string) =
                match p.Value.TryGetProperty k with
                | true, v -> v
                | _ -> corrupt path $"tensor '{p.Name}' has no '{k}'"
            let dtype = (get "dtype").GetString()
            let size =
                match dtype with
                | "F32" | "I32" -> 4L
                | "F64" | "I64" -> 8L
                | d -> corrupt path $"tensor '{p.Name}' has unsupported dtype '{d}'"
            let shape = [| for d in (get "shape").EnumerateArray() -> d.GetInt64() |]
            let offs = [| for d in (get "data_offsets").EnumerateArray() -> d.GetInt64() |]
            if offs.Length <> 2 || offs[0] < 0L || offs[1] < offs[0] || offs[1] > dataLen then
                corrupt path $"tensor '{p.Name}' claims bytes %A{offs} but the data section has {dataLen} bytes"
            if shape |> Array.exists (fun d -> d < 0L) then corrupt path $"tensor '{p.Name}' has a negative dimension"
            let count = Array.fold (*) 1L shape
            if count * size <> offs[1] - offs[0] then
                corrupt path $"tensor '{p.Name}' of shape %A{shape} needs {count * size} bytes but its range holds {offs[1] - offs[0]}"
            entries.Add((p.Name, dtype, size, shape, offs[0], offs[1]))
    let sorted = entries |> Seq.sortBy (fun (_, _, _, _, s, _) -> s) |> List.ofSeq
    let mutable expect = 0L
    for (name, _, _, _, s, e) in sorted do
        if s <> expect then corrupt path $"tensor '{name}' starts at byte {s} but {expect} was expected (overlap or gap)"
        expect <- e
    if expect <> dataLen then corrupt path $"the tensors cover {expect} of {dataLen} data bytes"
    // the ranges are contiguous and cover the data (checked above): read them in file order, then list them in
    // header order
    let loaded =
        [ for (name, dtype, size, shape, s, e) in sorted ->
            stream.Seek(dataStart + s, SeekOrigin.Begin) |> ignore
            name, readTensor stream dtype size shape ((e - s) / size) ] |> Map.ofList
    let tensors = [ for (name, _, _, _, _, _) in entries -> name, loaded[name] ]
    { Metadata = metadata; Tensors = tensors }

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
