#!/usr/bin/env -S dotnet fsi
// docs/mnist/scale8.md's rule (width.md's A and L, unchanged) on a `reproduce scaling --flow euclidean` run's
// fig-7.7-paired.csv (paired differences over the same 32 x0, test split), whatever the flows' names: each row's flow is
// found by its width ("Euclidean RT d 32, standardized prior, lr 0.00075" is d 32). No torch work.
//   dotnet fsi scripts/scale8-judge.fsx results/std-lr/fig-7.7-paired.csv
#load "_csv.fsx"
open System
open System.IO
open System.Globalization
open System.Text.RegularExpressions

let path = match fsi.CommandLineArgs |> Array.tail with [| p |] -> p | _ -> failwith "usage: scale8-judge.fsx FIG-7.7-PAIRED.CSV"
let split = _csv.cells
let widthOf (name: string) = let m = Regex.Match(name, @"RT d (\d+)") in if m.Success then Some (int m.Groups[1].Value) else None
let num (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
let rows =
    File.ReadAllLines path |> Array.tail |> Array.filter (fun l -> l.Trim() <> "")
    |> Array.map (fun l -> let c = split l in (widthOf c[0], widthOf c[1]), (c[0], c[1], num c[3], num c[4], num c[5], num c[6]))
let get a b =
    match rows |> Array.tryFind (fun (k, _) -> k = (Some a, Some b)) with
    | Some (_, v) -> v
    | None -> failwith $"{path}: no row d {a} − d {b} (a width not finished?)"
let _, _, accS, accSe, ceS, ceSSe = get 32 8
let _, _, acc1, acc1Se, ce1, ce1Se = get 16 8
let _, _, acc2, acc2Se, ce2, ce2Se = get 32 16
// A: a32 − a8 > 2 SE, and a16 ≥ a8 − SE(a16 − a8), a32 ≥ a16 − SE(a32 − a16)
let aSpan, aStep1, aStep2 = accS > 2.0 * accSe, acc1 >= -acc1Se, acc2 >= -acc2Se
// L: c8 − c32 > 2 SE (i.e. c32 − c8 < −2 SE), and c16 ≤ c8 + SE(c16 − c8), c32 ≤ c16 + SE(c32 − c16)
let lSpan, lStep1, lStep2 = -ceS > 2.0 * ceSSe, ce1 <= ce1Se, ce2 <= ce2Se
let f4 (x: float) = x.ToString("+0.0000;−0.0000;0.0000", CultureInfo.InvariantCulture)
let s4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
for (_, (a, b, da, sa, dc, sc)) in rows do
    printfn "%s − %s: accuracy %s (SE %s), calibrated CE %s (SE %s)" a b (f4 da) (s4 sa) (f4 dc) (s4 sc)
printfn "A span: a32 − a8 = %s, 2 SE = %s: %b" (f4 accS) (s4 (2.0 * accSe)) aSpan
printfn "A step d8→d16: a16 − a8 = %s >= −SE = %s: %b" (f4 acc1) (f4 -acc1Se) aStep1
printfn "A step d16→d32: a32 − a16 = %s >= −SE = %s: %b" (f4 acc2) (f4 -acc2Se) aStep2
printfn "L span: c8 − c32 = %s, 2 SE = %s: %b" (f4 -ceS) (s4 (2.0 * ceSSe)) lSpan
printfn "L step d8→d16: c16 − c8 = %s <= SE = %s: %b" (f4 ce1) (s4 ce1Se) lStep1
printfn "L step d16→d32: c32 − c16 = %s <= SE = %s: %b" (f4 ce2) (s4 ce2Se) lStep2
let a = aSpan && aStep1 && aStep2
let l = lSpan && lStep1 && lStep2
printfn "A (accuracy rises with width): %b; L (calibrated CE falls with width): %b" a l
