// Issue 13, docs/mnist/frontier.md: applies the pre-stated rule to what scripts/frontier-run.fsx measured (no torch
// work, seconds): the prior's frontier F(ν) on its τ polyline, N's paired difference D(τ) ± SE at matched novelty,
// the verdict, readings R1-R4, and the figure (accuracy against novelty ratio).
//
//   OUT=results/frontier DOCS=docs/mnist dotnet fsi scripts/frontier-judge.fsx
// Reads OUT/frontier-rows.csv and OUT/frontier-samples.csv; writes DOCS/frontier-judgement.csv and
// DOCS/frontier-accuracy-vs-novelty.png, and prints the markdown tables.
#load "_load.fsx"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/ScottPlot.dll"
open _load
open System
open System.IO
open System.Globalization
open ScottPlot
open WeightFlow

let outDir = env "OUT" "results/frontier"
let docs = env "DOCS" "docs/mnist"
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = if Double.IsFinite x then x.ToString("0.0000", CultureInfo.InvariantCulture) else "–"
let num (s: string) = match Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with | true, v -> v | _ -> nan

/// CSV rows as maps from the header's names (quoted fields may hold commas).
let read (file: string) =
    let split (line: string) =
        let cells = Collections.Generic.List<string>()
        let b = Text.StringBuilder()
        let mutable quoted = false
        for ch in line do
            match ch with
            | '"' -> quoted <- not quoted
            | ',' when not quoted -> cells.Add(b.ToString()); b.Clear() |> ignore
            | c -> b.Append c |> ignore
        cells.Add(b.ToString())
        cells.ToArray()
    let lines = File.ReadAllLines(Path.Combine(outDir, file)) |> Array.filter (fun l -> l.Trim() <> "")
    let header = split lines[0]
    [ for l in lines[1..] -> Map.ofArray (Array.zip header (split l)) ]

let rows = read "frontier-rows.csv"
let samples = read "frontier-samples.csv"

/// One measured (generator, τ): its row and per-sample vectors (in sample order).
type Point =
    { Tau: float; Row: Map<string, string>; Test: float[]; Valid: float[]; Nearest: float[] }
    member p.Nov = num p.Row["novelty"]
    member p.Get(k: string) = num p.Row[k]

let points (gen: string) =
    rows |> List.filter (fun r -> r["generator"] = gen)
    |> List.map (fun r ->
        let tau = num r["tau"]
        let ss = samples |> List.filter (fun s -> s["generator"] = gen && num s["tau"] = tau) |> List.sortBy (fun s -> int s["sample"])
        let col k = ss |> List.map (fun s -> num s[k]) |> Array.ofList
        { Tau = tau; Row = r; Test = col "acc_test"; Valid = col "acc_valid"; Nearest = col "nearest" })
    |> List.sortBy (fun p -> p.Tau)
let pP, pN = points "P", points "N"
let mean (xs: float[]) = Array.average xs
let sd (xs: float[]) = let m = mean xs in sqrt ((xs |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (xs.Length - 1))
let se (xs: float[]) = sd xs / sqrt (float xs.Length)

/// A point of the prior's polyline: weights on its measured points (one, or two neighbours interpolated).
type Candidate = { Weights: (Point * float) list; Label: string }
let combine (c: Candidate) (f: Point -> float[]) = Array.init (f (fst c.Weights.Head)).Length (fun i -> c.Weights |> List.sumBy (fun (p, w) -> w * (f p)[i]))
let combineScalar (c: Candidate) (f: Point -> float) = c.Weights |> List.sumBy (fun (p, w) -> w * f p)

/// F(ν): the most accurate (by `acc`) point of the prior's polyline whose novelty is >= ν: measured points with
/// ν_P >= ν and, on every segment bracketing ν, the interpolated point at ν. None above the prior's novelty range.
let frontier (acc: Point -> float[]) (nu: float) : Candidate option =
    let measured = [ for p in pP do if p.Nov >= nu then yield { Weights = [ p, 1.0 ]; Label = $"P τ {inv p.Tau}" } ]
    let segments =
        [ for a, b in List.pairwise pP do
            let lo, hi = min a.Nov b.Nov, max a.Nov b.Nov
            if lo <= nu && nu <= hi && a.Nov <> b.Nov then
                let w = (nu - a.Nov) / (b.Nov - a.Nov)
                yield { Weights = [ a, 1.0 - w; b, w ]; Label = $"P τ {inv a.Tau}–{inv b.Tau} (w {w:F3})" } ]
    match measured @ segments with
    | [] -> None
    | cs -> Some (cs |> List.maxBy (fun c -> mean (combine c acc)))

type Cmp = { D: float; SE: float; Category: string; Candidate: Candidate option }
let category (d: float) (s: float) = if d > 2.0 * s then "above" elif d < -2.0 * s then "below" else "on"
let compare (acc: Point -> float[]) (n: Point) (nu: float) : Cmp =
    match frontier acc nu with
    | None -> { D = nan; SE = nan; Category = "beyond the prior's novelty range"; Candidate = None }
    | Some c ->
        let d = Array.map2 (-) (acc n) (combine c acc)
        { D = mean d; SE = se d; Category = category (mean d) (se d); Candidate = Some c }

let verdict (cmps: Cmp list) =
    let judged = cmps |> List.filter (fun c -> c.Candidate.IsSome)
    if judged.Length < 4 then "undetermined (fewer than 4 judged τs)"
    elif judged |> List.forall (fun c -> c.Category = "above") then "N dominates its prior"
    elif judged |> List.forall (fun c -> c.Category = "below") then "the prior dominates N"
    elif judged |> List.forall (fun c -> c.Category = "on") then "N on its prior's frontier"
    else "mixed"

// R3: bootstrap SE of N's novelty ratio (torch's median of an even count is the lower middle value)
let judgeMedian = num rows.Head["judge_median"]
let noveltySE (p: Point) =
    let rng = Random 0
    let n = p.Nearest.Length
    let ratios =
        Array.init 2000 (fun _ ->
            let xs = Array.init n (fun _ -> p.Nearest[rng.Next n]) |> Array.sort
            xs[(n - 1) / 2] / judgeMedian)
    sd ratios
let tauRow (p: Point) = inv p.Tau
let test (p: Point) = p.Test
let valid (p: Point) = p.Valid

// checks: the per-sample novelty reproduces the rows' ratio (frontier-run.fsx checked it too)
for p in pP @ pN do
    let xs = Array.sort p.Nearest
    if abs (xs[(xs.Length - 1) / 2] / judgeMedian - p.Nov) > 1e-6 then failwith $"τ {p.Tau}: novelty mismatch"

printfn "\n**The prior's curve (P alone, test digits; 32 samples per τ)**\n"
printfn "| τ | accuracy mean ± SE (std, min) | BMA16 | CE calibrated | diversity | novelty | fidelity | validation accuracy ± SE |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- |"
for p in pP do
    printfn "| %s | %s ± %s (%s, %s) | %s | %s | %s | %s | %s | %s ± %s |" (tauRow p) (f4 (mean p.Test)) (f4 (se p.Test)) (f4 (p.Get "acc_std")) (f4 (p.Get "acc_min"))
        (f4 (p.Get "bma16")) (f4 (p.Get "ce_calibrated")) (f4 (p.Get "diversity")) (f4 p.Nov) (f4 (p.Get "fidelity")) (f4 (mean p.Valid)) (f4 (se p.Valid))

printfn "\n**N (test digits; 32 samples per τ)**\n"
printfn "| τ | accuracy mean ± SE (std, min) | BMA16 | CE calibrated | diversity | novelty ± bootstrap SE | fidelity | validation accuracy ± SE |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- |"
for p in pN do
    printfn "| %s | %s ± %s (%s, %s) | %s | %s | %s | %s ± %s | %s | %s ± %s |" (tauRow p) (f4 (mean p.Test)) (f4 (se p.Test)) (f4 (p.Get "acc_std")) (f4 (p.Get "acc_min"))
        (f4 (p.Get "bma16")) (f4 (p.Get "ce_calibrated")) (f4 (p.Get "diversity")) (f4 p.Nov) (f4 (noveltySE p)) (f4 (p.Get "fidelity")) (f4 (mean p.Valid)) (f4 (se p.Valid))

printfn "\n**Baselines (test digits; points of the figure)**\n"
printfn "| row | count | accuracy mean ± std | BMA16 | CE calibrated | novelty | fidelity |"
printfn "| --- | --- | --- | --- | --- | --- | --- |"
let baselines = rows |> List.filter (fun r -> r["generator"] <> "P" && r["generator"] <> "N")
for r in baselines do
    printfn "| %s | %s | %s ± %s | %s | %s | %s | %s |" r["generator"] r["count"] (f4 (num r["acc_mean"])) (f4 (num r["acc_std"])) (f4 (num r["bma16"]))
        (f4 (num r["ce_calibrated"])) (f4 (num r["novelty"])) (f4 (num r["fidelity"]))

// the rule (test) and the readings
let main = [ for n in pN -> n, compare test n n.Nov ]
printfn "\n**The rule: N against the prior's frontier at N's novelty (test digits, paired over the 32 x0)**\n"
printfn "| τ | N novelty | N accuracy | prior's frontier point | F(ν) accuracy | D ± SE | D / SE | category | prior BMA16 / CE cal / fidelity there | N BMA16 / CE cal / fidelity |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n, c in main do
    let at f = match c.Candidate with Some k -> f4 (combineScalar k f) | None -> "–"
    let fAcc = match c.Candidate with Some k -> f4 (mean (combine k test)) | None -> "–"
    printfn "| %s | %s | %s | %s | %s | %+.4f ± %.4f | %+.1f | %s | %s / %s / %s | %s / %s / %s |" (tauRow n) (f4 n.Nov) (f4 (mean n.Test))
        (c.Candidate |> Option.map (fun k -> k.Label) |> Option.defaultValue "–") fAcc c.D c.SE (c.D / c.SE) c.Category
        (at (fun p -> p.Get "bma16")) (at (fun p -> p.Get "ce_calibrated")) (at (fun p -> p.Get "fidelity"))
        (f4 (n.Get "bma16")) (f4 (n.Get "ce_calibrated")) (f4 (n.Get "fidelity"))
let v = verdict (List.map snd main)
printfn "\nVERDICT (pre-stated rule, test digits, %d of %d τs judged): %s" (main |> List.filter (fun (_, c) -> c.Candidate.IsSome) |> List.length) main.Length v

printfn "\n**R1 same τ: N − P at the same τ (paired, test digits)**\n"
printfn "| τ | N − P ± SE | D / SE | N novelty − P novelty |"
printfn "| --- | --- | --- | --- |"
for n in pN do
    match pP |> List.tryFind (fun p -> p.Tau = n.Tau) with
    | Some p -> let d = Array.map2 (-) n.Test p.Test in printfn "| %s | %+.4f ± %.4f | %+.1f | %+.4f |" (tauRow n) (mean d) (se d) (mean d / se d) (n.Nov - p.Nov)
    | None -> ()

printfn "\n**R3 novelty sensitivity: D at N's novelty ± 2 bootstrap SE (test digits)**\n"
printfn "| τ | SE_ν | D at ν − 2 SE_ν (category) | D at ν + 2 SE_ν (category) | unchanged |"
printfn "| --- | --- | --- | --- | --- |"
let robust =
    [ for n, c in main do
        let s = noveltySE n
        let lo, hi = compare test n (n.Nov - 2.0 * s), compare test n (n.Nov + 2.0 * s)
        let same = lo.Category = c.Category && hi.Category = c.Category
        printfn "| %s | %s | %+.4f ± %.4f (%s) | %+.4f ± %.4f (%s) | %b |" (tauRow n) (f4 s) lo.D lo.SE lo.Category hi.D hi.SE hi.Category same
        yield same ]
printfn "\nR3: the verdict is %s" (if List.forall id robust then "robust (every τ's category unchanged at both shifted novelties)" else "NOT robust (some τ's category changes within ±2 SE of N's novelty)")

printfn "\n**R4 validation replication (1,000 validation digits, the same novelties)**\n"
printfn "| τ | prior's frontier point | D ± SE | category |"
printfn "| --- | --- | --- | --- |"
let rep = [ for n in pN -> n, compare valid n n.Nov ]
for n, c in rep do
    printfn "| %s | %s | %+.4f ± %.4f | %s |" (tauRow n) (c.Candidate |> Option.map (fun k -> k.Label) |> Option.defaultValue "–") c.D c.SE c.Category
printfn "\nR4: the rule on validation digits would say: %s" (verdict (List.map snd rep))

// the judgement CSV
let csvLines =
    "tau,n_novelty,n_novelty_se,n_acc_test,frontier_point,frontier_acc_test,d_test,se_test,category_test,d_valid,se_valid,category_valid,same_tau_d_test,same_tau_se_test"
    :: [ for (n, c), (_, cv) in List.zip main rep ->
            let same = pP |> List.tryFind (fun p -> p.Tau = n.Tau) |> Option.map (fun p -> Array.map2 (-) n.Test p.Test)
            String.concat "," [ inv n.Tau; inv n.Nov; inv (noveltySE n); inv (mean n.Test)
                                (c.Candidate |> Option.map (fun k -> $"\"{k.Label}\"") |> Option.defaultValue "")
                                (c.Candidate |> Option.map (fun k -> inv (mean (combine k test))) |> Option.defaultValue "")
                                inv c.D; inv c.SE; c.Category; inv cv.D; inv cv.SE; cv.Category
                                (same |> Option.map (mean >> inv) |> Option.defaultValue ""); (same |> Option.map (se >> inv) |> Option.defaultValue "") ] ]
Report.writeText (Path.Combine(docs, "frontier-judgement.csv")) (String.concat "\n" csvLines + "\n")

// the figure: accuracy against novelty ratio, both τ-curves with ±1 SE, the baselines as points
let png = Path.Combine(docs, "frontier-accuracy-vs-novelty.png")
do
    use plot = new Plot()
    let curve (k: int) (name: string) (ps: Point list) =
        let xs, ys = ps |> List.map (fun p -> p.Nov) |> Array.ofList, ps |> List.map (fun p -> mean p.Test) |> Array.ofList
        let s = plot.Add.Scatter(xs, ys)
        s.Color <- Figures.color k
        s.MarkerSize <- 7.0f
        s.LineWidth <- 2.0f
        s.LegendText <- name
        let e = plot.Add.ErrorBar(xs, ys, ps |> List.map (fun p -> se p.Test) |> Array.ofList)
        e.Color <- Figures.color k
        for p in ps do
            let t = plot.Add.Text($"{p.Tau}", p.Nov, mean p.Test)
            t.LabelFontColor <- Figures.color k
            t.LabelFontSize <- 11.0f
            t.OffsetX <- 6.0f
            t.OffsetY <- -16.0f
    curve 0 "N (RT flow), τ 0.4-1" pN
    curve 1 "P (its prior alone, same x0), τ 0-1" pP
    baselines |> List.iteri (fun k r ->
        let s = plot.Add.Scatter([| num r["novelty"] |], [| num r["acc_mean"] |])
        s.Color <- Figures.color (2 + k)
        s.MarkerSize <- 11.0f
        s.MarkerShape <- MarkerShape.FilledDiamond
        s.LineWidth <- 0.0f
        s.LegendText <- r["generator"])
    plot.Title "MNIST: accuracy against novelty over τ, the RT flow N and its prior alone (test digits)"
    plot.XLabel "novelty ratio (1: as new as a held-out run)"
    plot.YLabel "mean test accuracy of 32 samples (±1 SE)"
    plot.ShowLegend(Alignment.LowerLeft) |> ignore
    Figures.save png plot
printfn "\nwrote %s and %s" png (Path.Combine(docs, "frontier-judgement.csv"))
