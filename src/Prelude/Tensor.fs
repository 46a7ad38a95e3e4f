/// Small helpers that make TorchSharp read well from F#. No scopes, no state.
[<AutoOpen>]
module WeightFlow.TensorPrelude

open TorchSharp

type Tensor = torch.Tensor
type Device = torch.Device

/// A float as a TorchSharp Scalar (F# does not apply the implicit conversion in overloaded calls).
let scalar (v: float) : Scalar = Scalar.op_Implicit v

/// Tensor helpers used throughout the library.
[<RequireQualifiedAccess>]
module T =
    /// Shape as an int array (TorchSharp uses int64).
    let shape (x: Tensor) = x.shape |> Array.map int

    /// Copies a tensor to a float32 array on the CPU.
    let toArray (x: Tensor) : float32[] =
        use c = x.detach().cpu().to_type(torch.float32).contiguous()
        c.data<float32>().ToArray()

    /// Copies a tensor to a float64 array on the CPU.
    let toArray64 (x: Tensor) : float[] =
        use c = x.detach().cpu().to_type(torch.float64).contiguous()
        c.data<float>().ToArray()

    /// int64 shape literal.
    let dims (d: int list) = d |> List.map int64 |> Array.ofList

    /// float32 tensor from an array with a given shape.
    let ofArray (device: Device) (shape: int list) (data: float32[]) =
        torch.tensor(data, System.ReadOnlySpan<int64>(dims shape), device = device)

    /// float64 tensor from an array with a given shape.
    let ofArray64 (device: Device) (shape: int list) (data: float[]) =
        torch.tensor(data, System.ReadOnlySpan<int64>(dims shape), device = device)

    /// int64 index tensor.
    let ofIndex (device: Device) (data: int[]) =
        torch.tensor(data |> Array.map int64, device = device)

    /// Same shape and bitwise-equal values (NaN never equals NaN).
    let equal (a: Tensor) (b: Tensor) =
        a.shape = b.shape && (use e = torch.eq(a, b).all() in e.ToBoolean())

    /// Largest absolute difference between two tensors (as float).
    let maxAbsDiff (a: Tensor) (b: Tensor) =
        use d = (a - b).abs().max()
        d.ToDouble()
