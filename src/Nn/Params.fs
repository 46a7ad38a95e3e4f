/// Parameters held in plain records (STYLE §8.4): creation from an explicit generator, named traversal with stable
/// dotted names (the checkpoint keys), counting, and save/load by name in a safetensors file (Storage).
///
/// Parameters are long-lived: they are detached from any dispose scope when created, and only an optimizer's
/// `step()` changes their values.
[<RequireQualifiedAccess>]
module WeightFlow.Params

open System
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

/// Writes the parameters to `path` as a safetensors file (Storage: atomic, streamed). `metadata` goes into the
/// header's `__metadata__`.
let save (path: string) (metadata: (string * string) list) (ps: Named) =
    let names = ps |> List.map fst
    if List.distinct names |> List.length <> names.Length then
        invalidArg "ps" "Parameter names must be unique to be saved; two parameters share a name."
    Storage.write path (Map.ofList metadata) [ for n, p in ps -> n, (p :> Tensor) ]

/// Copies the values stored in `path` into the parameters, by name. A file whose names or shapes do not match the
/// model fails with one message listing the missing, unexpected and mis-shaped names; nothing is copied then.
let load (path: string) (ps: Named) =
    let stored = Storage.read path
    try
        let tensors = Map.ofList stored.Tensors
        let names = ps |> List.map fst |> Set.ofList
        let held = tensors.Keys |> Set.ofSeq
        let missing = names - held |> Set.toList
        let unexpected = held - names |> Set.toList
        let misShaped =
            [ for n, p in ps do
                match tensors.TryFind n with
                | Some t when T.shape t <> T.shape p -> yield $"{n} (file %A{T.shape t}, model %A{T.shape p})"
                | _ -> () ]
        if not (missing.IsEmpty && unexpected.IsEmpty && misShaped.IsEmpty) then
            let list (xs: string list) = if xs.IsEmpty then "none" else String.Join(", ", xs)
            Check.dataError
                ($"{path} does not match the model: missing names: {list missing}; unexpected names: {list unexpected}; " +
                 $"shape mismatches: {list misShaped}. Build the model with the configuration and layout it was saved with.")
        use _ = torch.no_grad ()
        for n, p in ps do p.copy_(tensors[n]) |> ignore
    finally
        for _, t in stored.Tensors do t.Dispose()
