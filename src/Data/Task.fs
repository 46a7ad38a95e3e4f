/// The data set a zoo is trained on, as a union parsed once at the edge (CLI flag, facade option, zoo file) and
/// recorded in zoo files by `Task.name`.
namespace WeightFlow

open System

/// A classification task.
[<RequireQualifiedAccess>]
type Task =
    /// The UCI Wisconsin breast-cancer set embedded in the library (569 x 30, 2 classes).
    | Uci
    /// MNIST: the 10,000-digit subset `weightflow data prepare` writes, or a user's standard 60k/10k IDX files.
    | Mnist
    /// Fashion-MNIST (standard IDX files, written by `weightflow data prepare`).
    | FashionMnist
    /// A user's CSV file: numeric features, an integer label in the last column.
    | Csv of path: string
    /// Data supplied by the caller in memory (a script's or a test's `Dataset`); it is recorded by name only and
    /// cannot be loaded again by `Sources.load`.
    | Custom of name: string

[<RequireQualifiedAccess>]
module Task =
    /// The task's name as written on the command line and recorded in zoo files: "uci", "mnist", "fashion-mnist",
    /// "csv:PATH", "custom:NAME".
    let name (task: Task) : string =
        match task with
        | Task.Uci -> "uci"
        | Task.Mnist -> "mnist"
        | Task.FashionMnist -> "fashion-mnist"
        | Task.Csv path -> $"csv:{path}"
        | Task.Custom name -> $"custom:{name}"

    /// Parses a task name (the inverse of `name`; "fmnist" is accepted for Fashion-MNIST). An unknown name raises an
    /// ArgumentException listing the known ones.
    let parse (text: string) : Task =
        let t = text.Trim()
        let after (prefix: string) = t.Substring(prefix.Length)
        match t.ToLowerInvariant() with
        | "uci" -> Task.Uci
        | "mnist" -> Task.Mnist
        | "fashion-mnist" | "fmnist" -> Task.FashionMnist
        | l when l.StartsWith "csv:" && t.Length > 4 -> Task.Csv (after "csv:")
        | l when l.StartsWith "custom:" && t.Length > 7 -> Task.Custom (after "custom:")
        | _ -> invalidArg "task" $"Unknown task '{text}'; use uci, mnist, fashion-mnist or csv:PATH."

    /// A name safe to use in a file name ("csv:data/x.csv" -> "csv-data-x.csv").
    let fileStem (task: Task) : string =
        (name task).Replace(':', '-').Replace('/', '-').Replace('\\', '-')
