// Issue 13, docs/mnist/wides.md: the pre-stated rule A / L on `reproduce scaling --flow euclidean --prior standardized`'s
// fig-7.7-paired.csv (width.md's rule, unchanged), and the matched-novelty reading (frontier.md's frontier F(ν)) on what
// scripts/wides-frontier.fsx measured. No torch work.
//
//   OUT=results/wides DOCS=docs/mnist dotnet fsi scripts/wides-judge.fsx
// Reads OUT/fig-7.7-paired.csv, OUT/wides-rows.csv, OUT/wides-samples.csv (the last two optional: without them only
// A / L); writes DOCS/wides-judgement.csv and DOCS/wides-accuracy-vs-novelty.png, and prints markdown tables.
#load "_load.fsx"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/ScottPlot.dll"
open _load
open System
open System.IO
open System.Globalization
open ScottPlot
open WeightFlow

let outDir = env "OUT" "results/wides"
let docs = env "DOCS" "docs/mnist"
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = if Double.IsFinite x then x.ToString("0.0000", CultureInfo.InvariantCulture) else "–"
let s4 (x: float) = x.ToString("+0.0000;−0.0000;0.0000", CultureInfo.InvariantCulture)
let num (s: string) = match Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with | true, v -> v | _ -> nan

let split (line: string) =
    let cells = Collections.Generic.List<string>()
    let b = Text.StringBuilder()
    let mutable quoted = false
    for ch in line do
        match ch with
        | '"' -> quoted <- not quoted
        | ',' when not quoted -> cells.Add(b.ToString()); b.Clear() |> ignore
        | x -> b.Append x |> ignore
    cells.Add(b.ToString())
    cells.ToArray()
let read (file: string) =
    let lines = File.ReadAllLines(Path.Combine(outDir, file)) |> Array.filter (fun l -> l.Trim() <> "")
    let header = split lines[0]
    [ for l in lines[1..] -> Map.ofArray (Array.zip header (split l)) ]

// --- A and L (width.md's rule; the names of --prior standardized's flows) -----------------------------------------
let paired = read "fig-7.7-paired.csv"
let get a b =
    match paired |> List.tryFind (fun r -> r["a"] = a && r["b"] = b) with
    | Some r -> num r["accuracy_difference"], num r["accuracy_se"], num r["ce_calibrated_difference"], num r["ce_calibrated_se"]
    | None -> failwith $"fig-7.7-paired.csv: no row {a} − {b} (a width not finished?)"
let name w = $"Euclidean RT d {w}, standardized prior"
let accS, accSe, ceS, ceSSe = get (name 32) (name 8)
let acc1, acc1Se, ce1, ce1Se = get (name 16) (name 8)
let acc2, acc2Se, ce2, ce2Se = get (name 32) (name 16)
let aSpan, aStep1, aStep2 = accS > 2.0 * accSe, acc1 >= -acc1Se, acc2 >= -acc2Se
let lSpan, lStep1, lStep2 = -ceS > 2.0 * ceSSe, ce1 <= ce1Se, ce2 <= ce2Se
printfn "A span: a32 − a8 = %s, 2 SE = %s: %b" (s4 accS) (f4 (2.0 * accSe)) aSpan
printfn "A step d8→d16: a16 − a8 = %s >= −SE = %s: %b" (s4 acc1) (s4 -acc1Se) aStep1
printfn "A step d16→d32: a32 − a16 = %s >= −SE = %s: %b" (s4 acc2) (s4 -acc2Se) aStep2
printfn "L span: c8 − c32 = %s, 2 SE = %s: %b" (s4 -ceS) (f4 (2.0 * ceSSe)) lSpan
printfn "L step d8→d16: c16 − c8 = %s <= SE = %s: %b" (s4 ce1) (f4 ce1Se) lStep1
printfn "L step d16→d32: c32 − c16 = %s <= SE = %s: %b" (s4 ce2) (f4 ce2Se) lStep2
let a = aSpan && aStep1 && aStep2
let l = lSpan && lStep1 && lStep2
printfn "VERDICT: A (accuracy rises with width): %b; L (calibrated CE falls with width): %b" a l
for w in [ 8; 16; 32 ] do
    let d, se, dc, sc = get (name w) ReproduceScaling.PriorAloneName
    printfn "d %d − prior alone: accuracy %s (SE %s, %+.1f SE); calibrated CE %s (SE %s)" w (s4 d) (f4 se) (d / se) (s4 dc) (f4 sc)

// --- the matched-novelty reading (frontier.md's F(ν)) ------------------------------------------------------------
/// One measured (generator, τ): its row and per-sample test / validation accuracy (in sample order).
type Pt = { Gen: string; Tau: float; Row: Map<string, string>; Nov: float; Test: float[]; Valid: float[] }
if File.Exists(Path.Combine(outDir, "wides-samples.csv")) then
    let rows = read "wides-rows.csv"
    let samples = read "wides-samples.csv"
    let point (r: Map<string, string>) =
        let gen, tau = r["generator"], num r["tau"]
        let ss = samples |> List.filter (fun s -> s["generator"] = gen && num s["tau"] = tau) |> List.sortBy (fun s -> int s["sample"])
        let col k = ss |> List.map (fun s -> num s[k]) |> Array.ofList
        { Gen = gen; Tau = tau; Row = r; Nov = num r["novelty"]; Test = col "acc_test"; Valid = col "acc_valid" }
    let pP = rows |> List.filter (fun r -> r["generator"] = "P") |> List.map point |> List.sortBy (fun p -> p.Tau)
    let widths = rows |> List.filter (fun r -> r["generator"] <> "P") |> List.map point
    let mean (xs: float[]) = Array.average xs
    let sd (xs: float[]) = let m = mean xs in sqrt ((xs |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (xs.Length - 1))
    let se (xs: float[]) = sd xs / sqrt (float xs.Length)
    // F(ν): the most accurate (mean test accuracy) point of the prior's polyline with novelty >= ν; per-sample weights
    let frontier (nu: float) =
        let measured = [ for p in pP do if p.Nov >= nu then yield [ p, 1.0 ], $"P τ {inv p.Tau}" ]
        let segments =
            [ for x, y in List.pairwise pP do
                if min x.Nov y.Nov <= nu && nu <= max x.Nov y.Nov && x.Nov <> y.Nov then
                    let w = (nu - x.Nov) / (y.Nov - x.Nov)
                    yield [ x, 1.0 - w; y, w ], $"P τ {inv x.Tau}–{inv y.Tau} (w {w:F3})" ]
        let combine (ws: (Pt * float) list) (f: Pt -> float[]) =
            Array.init (f (fst ws.Head)).Length (fun i -> ws |> List.sumBy (fun (p, w) -> w * (f p)[i]))
        match measured @ segments with
        | [] -> None
        | cs -> cs |> List.map (fun (ws, label) -> combine ws (fun p -> p.Test), combine ws (fun p -> p.Valid), label) |> List.maxBy (fun (t, _, _) -> mean t) |> Some
    let category d s = if d > 2.0 * s then "above" elif d < -2.0 * s then "below" else "on"
    printfn "\n**The prior's curve (P alone, the same 32 x0; test digits)**\n"
    printfn "| τ | accuracy mean ± SE (std, min) | BMA16 | CE calibrated | diversity | novelty | fidelity | validation accuracy ± SE |"
    printfn "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for p in pP do
        printfn "| %s | %s ± %s (%s, %s) | %s | %s | %s | %s | %s | %s ± %s |" (inv p.Tau) (f4 (mean p.Test)) (f4 (se p.Test)) (f4 (num p.Row["acc_std"])) (f4 (num p.Row["acc_min"]))
            (f4 (num p.Row["bma16"])) (f4 (num p.Row["ce_calibrated"])) (f4 (num p.Row["diversity"])) (f4 p.Nov) (f4 (num p.Row["fidelity"])) (f4 (mean p.Valid)) (f4 (se p.Valid))
    printfn "\n**Each width at τ 1 against the prior's frontier at its novelty (paired over the 32 x0)**\n"
    printfn "| width | novelty | accuracy | prior's frontier point | F(ν) accuracy | D ± SE (test) | D / SE | category | D ± SE (validation) | category (validation) |"
    printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    let judged =
        [ for w in widths ->
            match frontier w.Nov with
            | None ->
                printfn "| %s | %s | %s | – | – | – | – | beyond the prior's novelty range | – | – |" w.Gen (f4 w.Nov) (f4 (mean w.Test))
                w, None
            | Some (pt, pv, label) ->
                let d, dv = Array.map2 (-) w.Test pt, Array.map2 (-) w.Valid pv
                printfn "| %s | %s | %s | %s | %s | %s ± %s | %+.1f | %s | %s ± %s | %s |" w.Gen (f4 w.Nov) (f4 (mean w.Test)) label (f4 (mean pt))
                    (s4 (mean d)) (f4 (se d)) (mean d / se d) (category (mean d) (se d)) (s4 (mean dv)) (f4 (se dv)) (category (mean dv) (se dv))
                w, Some (d, dv, label, mean pt) ]
    let dOf g = judged |> List.tryPick (fun (w, x) -> if w.Gen = g then x |> Option.map (fun (d, _, _, _) -> d) else None)
    match dOf "d 32", dOf "d 8" with
    | Some d32, Some d8 ->
        let g = Array.map2 (-) d32 d8
        printfn "\nMatched-novelty gain d 32 − d 8: %s ± %s (%+.1f SE)" (s4 (mean g)) (f4 (se g)) (mean g / se g)
    | _ -> printfn "\nMatched-novelty gain d 32 − d 8: not defined (a width beyond the prior's novelty range)"
    let csvLines =
        "width,novelty,acc_test,frontier_point,frontier_acc_test,d_test,se_test,category_test,d_valid,se_valid,category_valid"
        :: [ for w, x in judged ->
                match x with
                | Some (d, dv, label, fa) ->
                    String.concat "," [ w.Gen; inv w.Nov; inv (mean w.Test); $"\"{label}\""; inv fa; inv (mean d); inv (se d); category (mean d) (se d)
                                        inv (mean dv); inv (se dv); category (mean dv) (se dv) ]
                | None -> String.concat "," [ w.Gen; inv w.Nov; inv (mean w.Test); ""; ""; ""; ""; "beyond"; ""; ""; "" ] ]
    Report.writeText (Path.Combine(docs, "wides-judgement.csv")) (String.concat "\n" csvLines + "\n")
    let png = Path.Combine(docs, "wides-accuracy-vs-novelty.png")
    do
        use plot = new Plot()
        let xs, ys = pP |> List.map (fun p -> p.Nov) |> Array.ofList, pP |> List.map (fun p -> mean p.Test) |> Array.ofList
        let s = plot.Add.Scatter(xs, ys)
        s.Color <- Figures.color 1
        s.MarkerSize <- 7.0f
        s.LineWidth <- 2.0f
        s.LegendText <- "standardized diagonal prior alone (same x0), τ 0-1"
        let e = plot.Add.ErrorBar(xs, ys, pP |> List.map (fun p -> se p.Test) |> Array.ofList)
        e.Color <- Figures.color 1
        for p in pP do
            let t = plot.Add.Text($"{p.Tau}", p.Nov, mean p.Test)
            t.LabelFontColor <- Figures.color 1
            t.LabelFontSize <- 11.0f
            t.OffsetX <- 6.0f
            t.OffsetY <- -16.0f
        widths |> List.iteri (fun k w ->
            let s = plot.Add.Scatter([| w.Nov |], [| mean w.Test |])
            s.Color <- Figures.color (2 + k)
            s.MarkerSize <- 12.0f
            s.MarkerShape <- MarkerShape.FilledDiamond
            s.LineWidth <- 0.0f
            s.LegendText <- $"Euclidean RT {w.Gen}, τ 1"
            let e = plot.Add.ErrorBar([| w.Nov |], [| mean w.Test |], [| se w.Test |])
            e.Color <- Figures.color (2 + k))
        plot.Title "MNIST: RT widths from the standardized diagonal prior against that prior's τ-curve (test digits)"
        plot.XLabel "novelty ratio (1: as new as a held-out run)"
        plot.YLabel "mean test accuracy of 32 samples (±1 SE)"
        plot.ShowLegend(Alignment.LowerLeft) |> ignore
        Figures.save png plot
    printfn "\nwrote %s and %s" png (Path.Combine(docs, "wides-judgement.csv"))
