/// Parameters held in plain records (STYLE §8.4): creation from an explicit generator, named traversal with stable
/// dotted names (the checkpoint keys), counting, and save/load by name in a safetensors file.
///
/// Parameters are long-lived: they are detached from any dispose scope when created, and only an optimizer's
/// `step()` changes their values.
[<RequireQualifiedAccess>]
module WeightFlow.Params

open System
open System.IO
open System.Text
open System.Text.Json
open TorchSharp
open TorchSharp.Modules

/// A model's parameters under stable dotted names, in a fixed order.
type Named = (string * Parameter) list

/// Wraps a freshly made tensor as a trainable parameter that no dispose scope owns.
let ofTensor (t: Tensor) : Parameter =
    let p = new Parameter(t, true)
    p.DetachFromDisposeScope() |> ignore
    p

let private make (device: Device) (f: unit -> Tensor) : Parameter =
    let t = Scope.run (fun () -> f().``to``(device).contiguous())
    ofTensor t

/// U(-bound, bound) of a shape, drawn on the CPU from `gen` (so values do not depend on the device).
let uniform (gen: torch.Generator) (device: Device) (shape: int list) (bound: float) : Parameter =
    make device (fun () -> torch.rand(T.dims shape, dtype = torch.float32, generator = gen).mul(scalar (2.0 * bound)).sub(scalar bound))

/// N(0, std²) of a shape.
let normal (gen: torch.Generator) (device: Device) (shape: int list) (std: float) : Parameter =
    make device (fun () -> torch.randn(T.dims shape, dtype = torch.float32, generator = gen).mul(scalar std))

/// A constant-filled parameter (LayerNorm gains 1, zero biases).
let constant (device: Device) (shape: int list) (value: float) : Parameter =
    make device (fun () -> torch.full(T.dims shape, scalar value, dtype = torch.float32))

/// Prefixes every name with `prefix.`.
let under (prefix: string) (ps: Named) : Named = ps |> List.map (fun (n, p) -> $"{prefix}.{n}", p)

/// Total number of scalar parameters.
let count (ps: Named) : int64 = ps |> List.sumBy (fun (_, p) -> p.numel())

/// The parameters as the sequence an optimizer takes.
let values (ps: Named) : seq<Parameter> = ps |> Seq.map snd

/// Disposes every parameter (when a model is no longer used).
let dispose (ps: Named) = for _, p in ps do p.Dispose()

// ---------------------------------------------------------------------------------------------------------------
// Files: safetensors layout (8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian float32 data), written to a temporary file and renamed, so no file is half-written.

/// Writes the parameters to `path` (atomically). `metadata` goes into the header's `__metadata__` (strings only).
let save (path: string) (metadata: (string * string) list) (ps: Named) =
    let names = ps |> List.map fst
    if List.distinct names |> List.length <> names.Length then
        invalidArg "ps" "Parameter names must be unique to be saved; two parameters share a name."
    let arrays = ps |> List.map (fun (n, p) -> n, T.shape p, T.toArray p)
    let header = Collections.Generic.Dictionary<string, obj>()
    if not metadata.IsEmpty then header["__metadata__"] <- dict metadata
    let mutable offset = 0L
    for n, shape, data in arrays do
        let bytes = int64 data.Length * 4L
        header[n] <- dict [ "dtype", box "F32"; "shape", box shape; "data_offsets", box [| offset; offset + bytes |] ]
        offset <- offset + bytes
    let json = JsonSerializer.Serialize header
    // Pad the header with spaces to a multiple of 8 bytes, as the safetensors reference writer does.
    let json = json.PadRight((Encoding.UTF8.GetByteCount json + 7) / 8 * 8)
    let headerBytes = Encoding.UTF8.GetBytes json
    let dir = Path.GetDirectoryName(Path.GetFullPath path)
    Directory.CreateDirectory dir |> ignore
    let tmp = Path.Combine(dir, $".{Path.GetFileName path}.{Environment.ProcessId}.tmp")
    (
        use f = new FileStream(tmp, FileMode.Create, FileAccess.Write)
        use w = new BinaryWriter(f)
        w.Write(uint64 headerBytes.Length)
        w.Write headerBytes
        for _, _, data in arrays do
            let bytes = Array.zeroCreate<byte> (data.Length * 4)
            Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length)
            w.Write bytes
        w.Flush()
        f.Flush(true)
    )
    File.Move(tmp, path, true)

/// Reads every tensor of a file written by `save`: name -> (shape, data).
let read (path: string) : Map<string, int[] * float32[]> =
    Check.fileExists path "Save the model first (Params.save)."
    let bytes = File.ReadAllBytes path
    let bad why = Check.dataError $"{path} is not a parameter file written by WeightFlow ({why}); save the model again."
    if bytes.Length < 8 then bad "shorter than its 8-byte header length"
    let n = BitConverter.ToUInt64(bytes, 0)
    if n > uint64 (bytes.Length - 8) then bad "the header length exceeds the file size"
    let start = 8 + int n
    use doc =
        try JsonDocument.Parse(ReadOnlyMemory(bytes, 8, int n))
        with :? JsonException as e -> bad $"the header is not JSON: {e.Message}"
    [ for prop in doc.RootElement.EnumerateObject() do
        if prop.Name <> "__metadata__" then
            let v = prop.Value
            if v.GetProperty("dtype").GetString() <> "F32" then bad $"tensor {prop.Name} is not F32"
            let shape = [| for d in v.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
            let offs = [| for d in v.GetProperty("data_offsets").EnumerateArray() -> d.GetInt64() |]
            let count = Array.fold (*) 1 shape
            if offs.Length <> 2 || offs[1] - offs[0] <> int64 count * 4L || int64 start + offs[1] > int64 bytes.Length then
                bad $"tensor {prop.Name} has inconsistent offsets"
            let data = Array.zeroCreate<float32> count
            Buffer.BlockCopy(bytes, start + int offs[0], data, 0, count * 4)
            yield prop.Name, (shape, data) ]
    |> Map.ofList

/// Copies the values stored in `path` into the parameters, by name. A file whose names or shapes do not match the
/// model fails with one message listing the missing, unexpected and mis-shaped names; nothing is copied then.
let load (path: string) (ps: Named) =
    let stored = read path
    let names = ps |> List.map fst |> Set.ofList
    let missing = names - (stored.Keys |> Set.ofSeq) |> Set.toList
    let unexpected = (stored.Keys |> Set.ofSeq) - names |> Set.toList
    let misShaped =
        [ for n, p in ps do
            match stored.TryFind n with
            | Some (shape, _) when shape <> T.shape p -> yield $"{n} (file %A{shape}, model %A{T.shape p})"
            | _ -> () ]
    if not (missing.IsEmpty && unexpected.IsEmpty && misShaped.IsEmpty) then
        let list (xs: string list) = if xs.IsEmpty then "none" else String.Join(", ", xs)
        Check.dataError
            ($"{path} does not match the model: missing names: {list missing}; unexpected names: {list unexpected}; " +
             $"shape mismatches: {list misShaped}. Build the model with the configuration and layout it was saved with.")
    use _ = torch.no_grad ()
    for n, p in ps do
        let shape, data = stored[n]
        use t = T.ofArray p.device (List.ofArray shape) data
        p.copy_(t) |> ignore
