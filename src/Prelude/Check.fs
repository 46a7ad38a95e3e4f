/// Validation at the boundaries. Every error names the argument, what was expected, what was found and the fix.
[<RequireQualifiedAccess>]
module WeightFlow.Check

open System
open TorchSharp

/// A file is missing, truncated, corrupt or of the wrong kind; the message says which and how to fix it.
exception DataError of string
    with override this.Message = this.Data0

/// Raises a DataError with the given message.
let dataError msg = raise (DataError msg)

/// Requires a condition on an argument.
let arg (name: string) (ok: bool) (message: string) = if not ok then invalidArg name message

/// Requires a tensor to have exactly this shape.
let shape (name: string) (expected: int list) (x: torch.Tensor) =
    let actual = x.shape |> Array.map int |> List.ofArray
    if actual <> expected then
        invalidArg name $"{name} has shape %A{actual} but %A{expected} was expected."

/// Requires every entry to be finite; the message names what holds the NaN/Inf and the fix.
let finite (name: string) (fix: string) (x: torch.Tensor) =
    use ok = torch.isfinite(x).all()
    if not (ok.ToBoolean()) then
        use nan = torch.isnan(x).sum()
        invalidArg name $"{name} contains non-finite values ({nan.ToInt64()} NaN). {fix}"

/// Requires a file to exist; the message names the command that makes it.
let fileExists (path: string) (howToMake: string) =
    if not (IO.File.Exists path) then dataError $"File not found: {path}. {howToMake}"
