/// Classification data from delimited text: numeric feature columns and one integer label column.
namespace WeightFlow

open System
open System.Globalization
open System.IO
open TorchSharp

/// Whether the first line is a header.
type CsvHeader =
    /// A header when some non-empty field of the first line is not a number (so sklearn's
    /// `569,30,malignant,benign` is one; an empty field is a missing value, reported as such).
    | Detect
    | Present
    | Absent

/// How to read a CSV file. Fields are separated by `Separator` (None: ',' unless the first line has ';' or tab and no
/// comma). `LabelColumn` is 0-based; negative counts from the end (-1, the default, is the last column).
type CsvOptions = { Header: CsvHeader; LabelColumn: int; Separator: char option }

[<RequireQualifiedAccess>]
module Csv =
    /// Header detected, label in the last column, separator detected.
    let defaults = { Header = Detect; LabelColumn = -1; Separator = None }

    let private number (s: string) =
        match Double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v when Double.IsFinite v -> Some v
        | _ -> None

    /// Whether a field parses as a number that is NaN or infinite ("NaN", "inf", "1e999").
    let private nonFinite (s: string) =
        match Double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> not (Double.IsFinite v)
        | _ -> false

    let private separatorOf (options: CsvOptions) (first: string) =
        match options.Separator with
        | Some c -> c
        | None when first.Contains ',' -> ','
        | None when first.Contains ';' -> ';'
        | None when first.Contains '\t' -> '\t'
        | None -> ','

    /// Parses lines of delimited text into features float32 [N, d] and labels int64 [N]; `source` names the input in
    /// error messages, which give the line and column of the first bad field.
    let parse (options: CsvOptions) (source: string) (lines: string seq) : Tensor * Tensor =
        let rows =
            lines
            |> Seq.mapi (fun i l -> i + 1, l)
            |> Seq.filter (fun (_, l) -> not (String.IsNullOrWhiteSpace l))
            |> Array.ofSeq
        if rows.Length = 0 then Check.fail Check.ErrorKind.InvalidData $"{source}: the CSV file is empty; expected rows of numeric features and an integer label."
        let sep = separatorOf options (snd rows[0])
        let split (l: string) = l.Split sep
        let hasHeader =
            match options.Header with
            | Present -> true
            | Absent -> false
            | Detect -> split (snd rows[0]) |> Array.exists (fun f -> not (String.IsNullOrWhiteSpace f) && (number f).IsNone)
        let data = if hasHeader then rows[1..] else rows
        if data.Length = 0 then Check.fail Check.ErrorKind.InvalidData $"{source}: the CSV file has a header but no data rows."
        let width = (split (snd data[0])).Length
        if width < 2 then
            Check.fail Check.ErrorKind.InvalidData $"{source}: line {fst data[0]} has {width} column(s) (separator '{sep}'); expected features and a label column."
        let label = if options.LabelColumn < 0 then width + options.LabelColumn else options.LabelColumn
        if label < 0 || label >= width then
            invalidArg "options" $"{source}: label column {options.LabelColumn} does not exist in rows of {width} columns; use 0..{width - 1} or -1 for the last."
        let d = width - 1
        let x = Array.zeroCreate<float32> (data.Length * d)
        let y = Array.zeroCreate<int64> data.Length
        data |> Array.iteri (fun r (lineNo, line) ->
            let fields = split line
            if fields.Length <> width then
                Check.fail Check.ErrorKind.InvalidData $"{source}: line {lineNo} has {fields.Length} column(s) but the first data row has {width}; every row needs the same columns."
            let mutable j = 0
            fields |> Array.iteri (fun c field ->
                match number field with
                | None ->
                    let hint =
                        if String.IsNullOrWhiteSpace field then "it is empty (impute or drop missing values)"
                        elif nonFinite field then $"'{field.Trim()}' is NaN or infinite (impute or drop the row)"
                        else $"'{field.Trim()}' is not a number (numeric features and an integer label only)"
                    Check.fail Check.ErrorKind.InvalidData $"{source}: line {lineNo}, column {c + 1}: {hint}."
                | Some v when c = label ->
                    if v <> Math.Round v || v < 0.0 || v > 1e6 then
                        Check.fail Check.ErrorKind.InvalidData $"{source}: line {lineNo}, column {c + 1}: label {field.Trim()} is not a class index; encode classes as integers 0..C-1."
                    y[r] <- int64 v
                | Some v ->
                    if not (Single.IsFinite(float32 v)) then
                        Check.fail Check.ErrorKind.InvalidData $"{source}: line {lineNo}, column {c + 1}: {field.Trim()} is beyond the float32 range (|x| > 3.4e38) in which features are held; rescale the column."
                    x[r * d + j] <- float32 v
                    j <- j + 1))
        torch.tensor(x, ReadOnlySpan<int64>([| int64 data.Length; int64 d |])), torch.tensor(y, ReadOnlySpan<int64>([| int64 data.Length |]))

    /// Reads a CSV file of numeric features and an integer label column.
    let read (options: CsvOptions) (path: string) : Tensor * Tensor =
        Check.fileExists path "Check the path; a CSV data set has numeric feature columns and an integer label column (the last by default)."
        match Storage.detect path with
        | Storage.FileKind.Safetensors _ | Storage.FileKind.Idx | Storage.FileKind.Gzip | Storage.FileKind.Unknown as k ->
            Check.fail Check.ErrorKind.WrongKind $"{path} is not a CSV data set but {Storage.describe k}. A CSV data set is text: numeric feature columns and an integer label column."
        | _ -> ()
        parse options path (File.ReadLines path)
