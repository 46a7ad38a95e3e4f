/// Tensor expectations that print where and how far two tensors differ.
module WeightFlow.Tests.Expect

open Expecto
open TorchSharp

/// Fails unless `error a e` (elementwise, float64) is at most `tol` everywhere; prints the largest error, its flat index
/// and the two values there.
let private closeBy (what: string) (error: torch.Tensor -> torch.Tensor -> torch.Tensor) (tol: float)
                    (actual: torch.Tensor) (expected: torch.Tensor) (message: string) =
    let a = actual.detach().cpu().to_type(torch.float64)
    let e = expected.detach().cpu().to_type(torch.float64)
    if a.shape <> e.shape then failtestf "%s: shapes differ: %A vs %A" message a.shape e.shape
    let d = (error a e).flatten()
    if d.numel() > 0L then
        let worst = d.argmax().ToInt64()
        let err = d.[worst].ToDouble()
        if not (err <= tol) then
            failtestf "%s: max %s = %g at flat index %d (actual %g, expected %g), tolerance %g"
                message what err worst (a.flatten().[worst].ToDouble()) (e.flatten().[worst].ToDouble()) tol

/// Fails unless |actual - expected| <= atol everywhere; prints the largest error and its flat index.
let allClose (atol: float) (actual: torch.Tensor) (expected: torch.Tensor) (message: string) =
    closeBy "|actual - expected|" (fun a e -> (a - e).abs()) atol actual expected message

/// Fails unless |actual - expected| <= rtol · max(1, |expected|) everywhere: for values whose size varies over orders of
/// magnitude (a rounding error grows with the value); prints the largest relative error and its flat index.
let allCloseRelative (rtol: float) (actual: torch.Tensor) (expected: torch.Tensor) (message: string) =
    closeBy "|actual - expected| / max(1, |expected|)" (fun a e -> (a - e).abs() / e.abs().clamp_min(1.0)) rtol actual expected message

/// Fails unless the two tensors are bitwise equal (same shape, dtype and values).
let bitExact (actual: torch.Tensor) (expected: torch.Tensor) (message: string) =
    if actual.shape <> expected.shape || actual.dtype <> expected.dtype then
        failtestf "%s: shape/dtype differ: %A %A vs %A %A" message actual.shape actual.dtype expected.shape expected.dtype
    if not (WeightFlow.TensorPrelude.T.equal (actual.cpu()) (expected.cpu())) then failtestf "%s: tensors differ" message
