/// Validation at the boundaries. Every error names the argument, what was expected, what was found and the fix.
///
/// One typed error (issue 15): `WeightFlowError (kind, message)`. The kind says which class of problem it is (a
/// program or the C# facade can branch on it); the message is one line that names the problem and the fix, printed
/// as is by the CLI. Argument checks of library functions (`Check.arg`, `invalidArg`) stay ArgumentExceptions, which
/// the CLI and `Check.classify` treat as `InvalidOption`.
[<RequireQualifiedAccess>]
module WeightFlow.Check

open System
open TorchSharp

/// The classes of problem a WeightFlowError reports.
[<RequireQualifiedAccess>]
type ErrorKind =
    /// A file or task that does not exist.
    | NotFound
    /// A file of another kind than expected (a CSV where a zoo is expected, a flow where samples are, ...).
    | WrongKind
    /// A file that is truncated, corrupt, lies about its sizes, or has an unknown format version or dtype.
    | Corrupt
    /// A data set whose content is unusable (ragged rows, non-numeric cells, NaN, labels, too few rows).
    | InvalidData
    /// An option or argument outside its range.
    | InvalidOption
    /// Files or objects that do not belong together (a layout the flow, task or data does not have).
    | Mismatch
    /// NaN or infinite values where finite ones are required (weights, losses, gradients).
    | NonFinite
    /// Writing failed (full disk, file-size limit, permissions); the previous file is intact.
    | WriteFailed
    /// Another run holds the output (a lock file).
    | Busy

module ErrorKind =
    /// The kind's name ("not-found", "wrong-kind", ...), as the CLI reports it under --json: {"error": {"kind", "message",
    /// "exit_code"}} on stdout beside the stderr line.
    let text (k: ErrorKind) =
        match k with
        | ErrorKind.NotFound -> "not-found" | ErrorKind.WrongKind -> "wrong-kind" | ErrorKind.Corrupt -> "corrupt"
        | ErrorKind.InvalidData -> "invalid-data" | ErrorKind.InvalidOption -> "invalid-option" | ErrorKind.Mismatch -> "mismatch"
        | ErrorKind.NonFinite -> "non-finite" | ErrorKind.WriteFailed -> "write-failed" | ErrorKind.Busy -> "busy"

/// The one error of WeightFlow's boundaries: a kind and a one-line message naming the problem and the fix.
exception WeightFlowError of Kind: ErrorKind * Text: string
    with override this.Message = this.Text

/// Raises a WeightFlowError.
let fail (kind: ErrorKind) (msg: string) : 'a = raise (WeightFlowError(kind, msg))

/// Raises a WeightFlowError of kind Corrupt (a file is missing parts, truncated or garbled).
let dataError msg : 'a = fail ErrorKind.Corrupt msg

/// Matches any WeightFlowError, giving its message (the pattern older code used for file errors).
let (|DataError|_|) (e: exn) : string option =
    match e with
    | WeightFlowError(_, m) -> Some m
    | _ -> None

/// The kind and message of an error a caller should show (WeightFlowError, or an ArgumentException as InvalidOption);
/// None for anything else (a bug). The message has .NET's " (Parameter 'x')" suffix removed: ours name the argument.
let classify (e: exn) : (ErrorKind * string) option =
    match e with
    | WeightFlowError(k, m) -> Some(k, m)
    | :? ArgumentException as a ->
        let suffix = if isNull a.ParamName then "" else $" (Parameter '{a.ParamName}')"
        Some(ErrorKind.InvalidOption, (if suffix <> "" && a.Message.EndsWith suffix then a.Message[.. a.Message.Length - suffix.Length - 1] else a.Message))
    | _ -> None

/// Requires a condition on an argument.
let arg (name: string) (ok: bool) (message: string) = if not ok then invalidArg name message

/// Requires a user-facing option to hold (WeightFlowError InvalidOption naming the option and the fix).
let option (ok: bool) (message: string) = if not ok then fail ErrorKind.InvalidOption message

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
        use inf = torch.isinf(x).sum()
        fail ErrorKind.NonFinite $"{name} contains non-finite values ({nan.ToInt64()} NaN, {inf.ToInt64()} infinite). {fix}"

/// Requires a file to exist; the message names the command that makes it.
let fileExists (path: string) (howToMake: string) =
    if not (IO.File.Exists path) then
        if IO.Directory.Exists path then fail ErrorKind.WrongKind $"{path} is a folder, not a file. {howToMake}"
        fail ErrorKind.NotFound $"File not found: {path}. {howToMake}"
