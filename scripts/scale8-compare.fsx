#!/usr/bin/env -S dotnet fsi
// docs/mnist/scale8.md's readings from scripts/scale8-measure.fsx's per-sample CSVs (no torch work): the changed
// widths against the cached ones (paired over the same 32 x0: both groups share the prior and the sampling seed),
// rule A on the validation digits (reported, not deciding), and the Euler-steps comparison where measured.
//   dotnet fsi scripts/scale8-compare.fsx results/scale8-samples-std.csv results/scale8-samples-std-lr.csv
#load "_csv.fsx"
open System
open System.IO
open System.Globalization

let files = fsi.CommandLineArgs |> Array.tail
if files.Length < 1 then failwith "usage: scale8-compare.fsx SAMPLES.CSV..."
let split = _csv.cells
let num (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
// (group, width, steps) -> per-sample (test accuracy, calibrated test CE, validation accuracy), sample order
let rows =
    [ for f in files do
        for l in File.ReadAllLines f |> Array.tail |> Array.filter (fun l -> l.Trim() <> "") ->
            let c = split l
            (c[0], c[2], int c[3]), (int c[4], num c[5], num c[6], num c[7]) ]
    |> List.groupBy fst
    |> List.map (fun (k, v) -> k, v |> List.map snd |> List.sortBy (fun (i, _, _, _) -> i) |> Array.ofList)
    |> Map.ofList
let mean (a: float[]) = Array.average a
let se (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1)) / sqrt (float a.Length)
let s4 (x: float) = x.ToString("+0.0000;−0.0000;0.0000", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
let col k (i: int) = rows[k] |> Array.map (fun (_, a, c, v) -> match i with 0 -> a | 1 -> c | _ -> v)
let pair (a: string * string * int) (b: string * string * int) (i: int) =
    let x, y = col a i, col b i
    if x.Length <> y.Length then failwith $"%A{a} has {x.Length} samples, %A{b} {y.Length}"
    let d = Array.map2 (-) x y
    mean d, se d
let name (g, w, s) = if w = "" then $"{g} prior alone" else $"{g} d {w} ({s} steps)"
printfn "| row | n | test accuracy | calibrated test CE | validation accuracy |"
printfn "| --- | --- | --- | --- | --- |"
for KeyValue(k, v) in rows do
    printfn "| %s | %d | %s | %s | %s |" (name k) v.Length (f4 (mean (col k 0))) (f4 (mean (col k 1))) (f4 (mean (col k 2)))
let groups = rows |> Map.toList |> List.map (fun ((g, _, _), _) -> g) |> List.distinct
let has k = rows.ContainsKey k
printfn ""
printfn "| A − B (paired, the same x0) | test accuracy (SE) | calibrated test CE (SE) | validation accuracy (SE) |"
printfn "| --- | --- | --- | --- |"
let show a b =
    if has a && has b then
        let cell i = let m, e = pair a b i in $"{s4 m} ({f4 e})"
        printfn "| %s − %s | %s | %s | %s |" (name a) (name b) (cell 0) (cell 1) (cell 2)
// the changed widths against the cached ones (lr × 8/d against the recipe's lr)
for g in groups do
    if g.EndsWith "-lr" then
        let b = g.Substring(0, g.Length - 3)
        for w in [ "16"; "32" ] do show (g, w, 100) (b, w, 100)
// Euler steps: 400 − 100 where measured
for g in groups do
    for w in [ "8"; "32" ] do
        for s in [ 200; 400 ] do show (g, w, s) (g, w, 100)
// rule A on the validation digits (reported, not deciding) per group
printfn ""
for g in groups do
    let k w = (g, w, 100)
    if has (k "8") && has (k "16") && has (k "32") then
        let (sp, spSe), (s1, s1Se), (s2, s2Se) = pair (k "32") (k "8") 2, pair (k "16") (k "8") 2, pair (k "32") (k "16") 2
        let a = sp > 2.0 * spSe && s1 >= -s1Se && s2 >= -s2Se
        printfn "%s, validation digits: a32 − a8 = %s (2 SE %s), a16 − a8 = %s (−SE %s), a32 − a16 = %s (−SE %s): A %b"
            g (s4 sp) (f4 (2.0 * spSe)) (s4 s1) (s4 -s1Se) (s4 s2) (s4 -s2Se) a
