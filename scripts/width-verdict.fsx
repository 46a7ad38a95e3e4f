#!/usr/bin/env -S dotnet fsi
// docs/mnist/width.md's pre-stated rule applied to `reproduce scaling --flow euclidean`'s fig-7.7-paired.csv (paired
// differences over the same 32 x0, test split): A (accuracy rises with width) and L (calibrated CE falls with width).
//   dotnet fsi scripts/width-verdict.fsx results/width/euclid/fig-7.7-paired.csv
open System
open System.IO
open System.Globalization

let path = match fsi.CommandLineArgs |> Array.tail with [| p |] -> p | _ -> failwith "usage: width-verdict.fsx FIG-7.7-PAIRED.CSV"
let rows =
    File.ReadAllLines path |> Array.tail |> Array.filter (fun l -> l.Trim() <> "")
    |> Array.map (fun l ->
        let c = l.Split ','
        let f (i: int) = Double.Parse(c[i], CultureInfo.InvariantCulture)
        (c[0], c[1]), (f 3, f 4, f 5, f 6))
let get a b =
    match rows |> Array.tryFind (fun (k, _) -> k = (a, b)) with
    | Some (_, v) -> v
    | None -> failwith $"{path}: no row {a} − {b} (d 32 not finished?)"
let d8, d16, d32 = "Euclidean RT d 8", "Euclidean RT d 16", "Euclidean RT d 32"
let accS, accSe, _, _ = get d32 d8
let acc1, acc1Se, ce1, ce1Se = get d16 d8
let acc2, acc2Se, ce2, ce2Se = get d32 d16
let _, _, ceS, ceSSe = get d32 d8
// A: a32 − a8 > 2 SE, and a16 ≥ a8 − SE(a16 − a8), a32 ≥ a16 − SE(a32 − a16)
let aSpan, aStep1, aStep2 = accS > 2.0 * accSe, acc1 >= -acc1Se, acc2 >= -acc2Se
// L: c8 − c32 > 2 SE (i.e. c32 − c8 < −2 SE), and c16 ≤ c8 + SE(c16 − c8), c32 ≤ c16 + SE(c32 − c16)
let lSpan, lStep1, lStep2 = -ceS > 2.0 * ceSSe, ce1 <= ce1Se, ce2 <= ce2Se
let f4 (x: float) = x.ToString("+0.0000;−0.0000;0.0000", CultureInfo.InvariantCulture)
let s4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
printfn "A span: a32 − a8 = %s, 2 SE = %s: %b" (f4 accS) (s4 (2.0 * accSe)) aSpan
printfn "A step d8→d16: a16 − a8 = %s >= −SE = %s: %b" (f4 acc1) (f4 -acc1Se) aStep1
printfn "A step d16→d32: a32 − a16 = %s >= −SE = %s: %b" (f4 acc2) (f4 -acc2Se) aStep2
printfn "L span: c8 − c32 = %s, 2 SE = %s: %b" (f4 -ceS) (s4 (2.0 * ceSSe)) lSpan
printfn "L step d8→d16: c16 − c8 = %s <= SE = %s: %b" (f4 ce1) (s4 ce1Se) lStep1
printfn "L step d16→d32: c32 − c16 = %s <= SE = %s: %b" (f4 ce2) (s4 ce2Se) lStep2
let a = aSpan && aStep1 && aStep2
let l = lSpan && lStep1 && lStep2
printfn "A (accuracy rises with width): %b; L (calibrated CE falls with width): %b => %s" a l (if a && l then "ADOPTED" else "NOT ADOPTED")
