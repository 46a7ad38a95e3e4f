// Reading back the CSVs WeightFlow writes, for scripts that do no torch work and so do not load _load.fsx.

/// A CSV line's cells: Report.csv quotes a cell that holds a comma (flow names such as "Euclidean RT d 16,
/// standardized prior"), so commas inside quotes do not split.
let cells (line: string) : string[] =
    let cells = System.Collections.Generic.List<string>()
    let b = System.Text.StringBuilder()
    let mutable quoted = false
    for ch in line do
        match ch with
        | '"' -> quoted <- not quoted
        | ',' when not quoted -> cells.Add(b.ToString()); b.Clear() |> ignore
        | x -> b.Append x |> ignore
    cells.Add(b.ToString())
    cells.ToArray()
